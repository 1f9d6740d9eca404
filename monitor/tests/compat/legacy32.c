/* A 32-bit System V IPC workload for ipctop's tests (built with gcc -m32 -static).
 *
 *   legacy32 direct N   the i386 direct IPC syscalls (semget 393 ... semtimedop_time64 420)
 *   legacy32 ipc N      the same calls through ipc() (syscall 117), as old C libraries do
 *   legacy32 getppid N  N getppid() and N getpid(), nothing else
 *   legacy32 hold       uses semaphore 0 of a new set as a lock once, takes it, prints the set, waits for stdin to close
 *   legacy32 block ID   blocks in semop(ID, {0, -1}) (through ipc()) until the set is removed
 *   legacy32 idle       makes no IPC call, waits for stdin to close
 *
 * The direct calls take commands without IPC_64 (the kernel adds it); ipc() with it, as the C
 * library passes it. Every call is issued with syscall(), so that the counts do not depend on which entry the
 * C library prefers. One JSON line on stdout says what was done (ids, address, counts). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#define NR_IPC 117
#define NR_SEMGET 393
#define NR_SEMCTL 394
#define NR_SHMGET 395
#define NR_SHMCTL 396
#define NR_SHMAT 397
#define NR_SHMDT 398
#define NR_MSGGET 399
#define NR_MSGSND 400
#define NR_MSGRCV 401
#define NR_MSGCTL 402
#define NR_SEMTIMEDOP_TIME64 420

#define SEMOP 1
#define SEMGET 2
#define SEMCTL 3
#define SEMTIMEDOP 4
#define MSGSND 11
#define MSGRCV 12
#define MSGGET 13
#define MSGCTL 14
#define SHMAT 21
#define SHMDT 22
#define SHMGET 23
#define SHMCTL 24

#define IPC_PRIVATE_ 0
#define IPC_CREAT_ 01000
#define IPC_RMID_ 0
#define IPC_64_ 0x100
#define SETVAL_ 16
#define IPC_NOWAIT_ 04000

struct sembuf32 { unsigned short num; short op; short flg; };
struct msgbuf32 { int32_t mtype; char text[12]; };
struct ts32 { int32_t sec; int32_t nsec; };
struct ts64 { int64_t sec; int64_t nsec; };
struct kludge32 { uint32_t msgp; int32_t msgtyp; };

static long ipc(int call, long first, long second, long third, void *ptr, long fifth) {
    return syscall(NR_IPC, call, first, second, third, ptr, fifth);
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int run(int use_ipc, int n) {
    struct sembuf32 up = {0, 1, 0}, down = {0, -1, 0}, take1 = {1, -1, 0};
    struct msgbuf32 m = {7, "hello"}, r;
    struct ts32 t32 = {0, 50000000};
    struct ts64 t64 = {0, 50000000};
    long semid, shmid, msqid, ret;
    unsigned long addr = 0;
    int i, waited_errno;
    if (use_ipc) {
        semid = ipc(SEMGET, IPC_PRIVATE_, 2, IPC_CREAT_ | 0600, 0, 0);
        if (semid < 0) die("semget");
        for (i = 0; i < n; i++) {
            if (ipc(SEMOP, semid, 1, 0, &up, 0) < 0) die("semop up");
            if (ipc(SEMOP, semid, 1, 0, &down, 0) < 0) die("semop down");
        }
        /* semctl's fourth argument is the u32 at ptr (union semun). */
        uint32_t val = 1;
        if (ipc(SEMCTL, semid, 1, SETVAL_ | IPC_64_, &val, 0) < 0) die("semctl SETVAL");
        if (ipc(SEMOP, semid, 1, 0, &take1, 0) < 0) die("semop take");
        /* Waits 50 ms (a 32-bit timespec) and fails with EAGAIN. */
        ret = ipc(SEMTIMEDOP, semid, 1, 0, &take1, (long)&t32);
        waited_errno = ret < 0 ? errno : 0;
        shmid = ipc(SHMGET, IPC_PRIVATE_, 4096, IPC_CREAT_ | 0600, 0, 0);
        if (shmid < 0) die("shmget");
        uint32_t raddr = 0;
        if (ipc(SHMAT, shmid, 0, (long)&raddr, 0, 0) < 0) die("shmat");
        addr = raddr;
        if (ipc(SHMDT, 0, 0, 0, (void *)addr, 0) < 0) die("shmdt");
        if (ipc(SHMCTL, shmid, IPC_RMID_ | IPC_64_, 0, 0, 0) < 0) die("shmctl");
        msqid = ipc(MSGGET, IPC_PRIVATE_, IPC_CREAT_ | 0600, 0, 0, 0);
        if (msqid < 0) die("msgget");
        for (i = 0; i < n; i++) {
            struct kludge32 k = {(uint32_t)(uintptr_t)&r, 7};
            if (ipc(MSGSND, msqid, 6, 0, &m, 0) < 0) die("msgsnd");
            if (ipc(MSGRCV, msqid, sizeof r.text, 0, &k, 0) != 6) die("msgrcv");
        }
        if (ipc(MSGCTL, msqid, IPC_RMID_ | IPC_64_, 0, 0, 0) < 0) die("msgctl");
        if (ipc(SEMCTL, semid, 0, IPC_RMID_ | IPC_64_, &val, 0) < 0) die("semctl RMID");
    } else {
        semid = syscall(NR_SEMGET, IPC_PRIVATE_, 2, IPC_CREAT_ | 0600);
        if (semid < 0) die("semget");
        for (i = 0; i < n; i++) {
            if (syscall(NR_SEMTIMEDOP_TIME64, semid, &up, 1, NULL) < 0) die("semop up");
            if (syscall(NR_SEMTIMEDOP_TIME64, semid, &down, 1, NULL) < 0) die("semop down");
        }
        if (syscall(NR_SEMCTL, semid, 1, SETVAL_, 1) < 0) die("semctl SETVAL");
        if (syscall(NR_SEMTIMEDOP_TIME64, semid, &take1, 1, NULL) < 0) die("semop take");
        ret = syscall(NR_SEMTIMEDOP_TIME64, semid, &take1, 1, &t64);
        waited_errno = ret < 0 ? errno : 0;
        shmid = syscall(NR_SHMGET, IPC_PRIVATE_, 4096, IPC_CREAT_ | 0600);
        if (shmid < 0) die("shmget");
        addr = syscall(NR_SHMAT, shmid, 0, 0);
        if (addr == -1) die("shmat");
        if (syscall(NR_SHMDT, addr) < 0) die("shmdt");
        if (syscall(NR_SHMCTL, shmid, IPC_RMID_, 0) < 0) die("shmctl");
        msqid = syscall(NR_MSGGET, IPC_PRIVATE_, IPC_CREAT_ | 0600);
        if (msqid < 0) die("msgget");
        for (i = 0; i < n; i++) {
            if (syscall(NR_MSGSND, msqid, &m, 6, 0) < 0) die("msgsnd");
            if (syscall(NR_MSGRCV, msqid, &r, sizeof r.text, 7, 0) != 6) die("msgrcv");
        }
        if (syscall(NR_MSGCTL, msqid, IPC_RMID_, 0) < 0) die("msgctl");
        if (syscall(NR_SEMCTL, semid, 0, IPC_RMID_, 0) < 0) die("semctl RMID");
    }
    printf("{\"pid\":%d,\"semid\":%ld,\"shmid\":%ld,\"msqid\":%ld,\"shmaddr\":%lu,"
           "\"n\":%d,\"waited_errno\":%d}\n",
           getpid(), semid, shmid, msqid, addr, n, waited_errno);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: legacy32 direct|ipc|getppid N | hold | block ID | idle\n");
        return 2;
    }
    const char *mode = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 0;
    if (!strcmp(mode, "direct") || !strcmp(mode, "ipc"))
        return run(!strcmp(mode, "ipc"), n);
    if (!strcmp(mode, "getppid")) {
        long sum = 0;
        for (int i = 0; i < n; i++)
            sum += syscall(SYS_getppid) + syscall(SYS_getpid);
        printf("{\"pid\":%d,\"calls\":%d,\"sum\":%ld}\n", getpid(), 2 * n, sum);
        return 0;
    }
    if (!strcmp(mode, "hold")) {
        struct sembuf32 take = {0, -1, 0}, give = {0, 1, 0};
        uint32_t one = 1;
        long semid = ipc(SEMGET, IPC_PRIVATE_, 1, IPC_CREAT_ | 0600, 0, 0);
        if (semid < 0) die("semget");
        if (ipc(SEMCTL, semid, 0, SETVAL_ | IPC_64_, &one, 0) < 0) die("semctl");
        /* Used as a lock once (taken and given back), then taken and kept. */
        if (ipc(SEMOP, semid, 1, 0, &take, 0) < 0) die("semop");
        if (ipc(SEMOP, semid, 1, 0, &give, 0) < 0) die("semop");
        if (ipc(SEMOP, semid, 1, 0, &take, 0) < 0) die("semop");
        printf("{\"pid\":%d,\"semid\":%ld}\n", getpid(), semid);
        fflush(stdout);
        char c;
        while (read(0, &c, 1) > 0) {}
        ipc(SEMCTL, semid, 0, IPC_RMID_ | IPC_64_, &one, 0);
        return 0;
    }
    if (!strcmp(mode, "idle")) {
        char c;
        while (read(0, &c, 1) > 0) {}
        return 0;
    }
    if (!strcmp(mode, "block") && argc > 2) {
        struct sembuf32 take = {0, -1, 0};
        printf("{\"pid\":%d}\n", getpid());
        fflush(stdout);
        return ipc(SEMOP, atol(argv[2]), 1, 0, &take, 0) < 0 ? 0 : 1;
    }
    return 2;
}
