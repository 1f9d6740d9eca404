/* The POSIX situations of monitor/tests/posix_real.rs, compiled by the test (cc -pthread).
 * Each mode makes its situation, prints one line "ready {json}" once it holds (the pids and
 * tids of its waiters, as the kernel shows them), then pauses until killed. Every child dies
 * with its parent (PR_SET_PDEATHSIG), so that killing the parent ends the whole situation.
 * Run inside private IPC and mount namespaces (with a tmpfs of its own on /dev/shm), the
 * objects go with the namespaces. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(2); }

/* A child that dies with its parent. */
static pid_t child(void) {
    pid_t parent = getpid();
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
    }
    return p;
}

/* Waits until thread `tid` sleeps (state S in /proc). */
static void until_asleep(pid_t tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", tid);
    for (int i = 0; i < 5000; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            char *c = strrchr(buf, ')');
            if (c && c[1] == ' ' && c[2] == 'S') {
                /* and in a call (its syscall file names one) */
                snprintf(path, sizeof path, "/proc/%d/syscall", tid);
                f = fopen(path, "r");
                if (f) {
                    n = fread(buf, 1, sizeof buf - 1, f);
                    fclose(f);
                    buf[n] = 0;
                    if (buf[0] != 'r' && buf[0] != '-') return;
                }
                snprintf(path, sizeof path, "/proc/%d/stat", tid);
            }
        }
        usleep(2000);
    }
    fprintf(stderr, "thread %d never slept\n", tid);
    exit(3);
}

static void pids_json(const char *key, pid_t *p, int n) {
    printf("\"%s\":[", key);
    for (int i = 0; i < n; i++) printf("%s%d", i ? "," : "", p[i]);
    printf("]");
}

static void forever(void) { for (;;) pause(); }

/* sem NAME N [let-go]: a named semaphore at 0 and N processes in sem_wait; with let-go its
   maker closes it once they wait (nobody alive maps it but its waiters: nobody can post). */
static void mode_sem(const char *name, int n, int let_go) {
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    if (s == SEM_FAILED) die("sem_open");
    pid_t w[16];
    for (int i = 0; i < n; i++) {
        if ((w[i] = child()) == 0) { sem_wait(s); _exit(0); }
    }
    for (int i = 0; i < n; i++) until_asleep(w[i]);
    if (let_go && sem_close(s) != 0) die("sem_close");
    printf("ready {");
    pids_json("waiters", w, n);
    printf("}\n");
    fflush(stdout);
    forever();
}

/* mqrecv NAME: an empty queue and a process blocked receiving from it. */
static void mode_mqrecv(const char *name) {
    struct mq_attr a = {0, 4, 64, 0};
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDONLY, 0600, &a);
    if (q == (mqd_t)-1) die("mq_open");
    pid_t r = child();
    if (r == 0) { char b[64]; mq_receive(q, b, sizeof b, NULL); _exit(0); }
    mq_close(q); /* only the receiver has it open */
    until_asleep(r);
    printf("ready {\"receiver\":%d}\n", r);
    fflush(stdout);
    forever();
}

/* mqleave NAME: a child makes a queue, leaves 3 messages in it and exits. */
static void mode_mqleave(const char *name) {
    pid_t c = child();
    if (c == 0) {
        struct mq_attr a = {0, 8, 32, 0};
        mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_WRONLY, 0600, &a);
        if (q == (mqd_t)-1) die("mq_open");
        for (int i = 0; i < 3; i++)
            if (mq_send(q, "message", 7, 0)) die("mq_send");
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) exit(4);
    printf("ready {\"maker\":%d}\n", c);
    fflush(stdout);
    forever();
}

/* shm NAME: a child makes a 12288-byte object and exits; nobody uses it. */
static void mode_shm(const char *name) {
    pid_t c = child();
    if (c == 0) {
        int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0 || ftruncate(fd, 12288)) die("shm_open");
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) exit(4);
    printf("ready {\"maker\":%d}\n", c);
    fflush(stdout);
    forever();
}

/* sysv N: a process-shared sem_t at offset 128 of a System V segment, N processes in
 * sem_wait on it (as PostgreSQL's backends). The segment is marked for removal at once: it
 * goes when they do. */
static void mode_sysv(int n) {
    int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (id < 0) die("shmget");
    char *base = shmat(id, NULL, 0);
    if (base == (void *)-1) die("shmat");
    shmctl(id, IPC_RMID, NULL);
    sem_t *s = (sem_t *)(base + 128);
    if (sem_init(s, 1, 0)) die("sem_init");
    pid_t w[16];
    for (int i = 0; i < n; i++) {
        if ((w[i] = child()) == 0) { sem_wait(s); _exit(0); }
    }
    for (int i = 0; i < n; i++) until_asleep(w[i]);
    printf("ready {\"shmid\":%d,", id);
    pids_json("waiters", w, n);
    printf("}\n");
    fflush(stdout);
    forever();
}

/* abba: two robust process-shared mutexes in shared memory; the parent holds A and waits for
 * B, a child holds B and waits for A. */
static void mode_abba(void) {
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) die("mmap");
    pthread_mutex_t *a = (pthread_mutex_t *)m, *b = (pthread_mutex_t *)(m + 256);
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(a, &at);
    pthread_mutex_init(b, &at);
    volatile int *step = (volatile int *)(m + 1024);
    pthread_mutex_lock(a);
    pid_t c = child();
    if (c == 0) {
        pthread_mutex_lock(b);
        *step = 1;
        pthread_mutex_lock(a);
        _exit(0);
    }
    while (*step != 1) usleep(1000);
    pid_t t = child();
    if (t == 0) {
        /* The parent's turn to block is observed from a helper (the parent blocks itself). */
        until_asleep(getppid());
        until_asleep(c);
        printf("ready {\"pids\":[%d,%d]}\n", getppid(), c);
        fflush(stdout);
        forever();
    }
    pthread_mutex_lock(b);
    forever();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && !strcmp(argv[1], "sem"))
        mode_sem(argv[2], atoi(argv[3]), argc >= 5 && !strcmp(argv[4], "let-go"));
    else if (argc >= 3 && !strcmp(argv[1], "mqrecv")) mode_mqrecv(argv[2]);
    else if (argc >= 3 && !strcmp(argv[1], "mqleave")) mode_mqleave(argv[2]);
    else if (argc >= 3 && !strcmp(argv[1], "shm")) mode_shm(argv[2]);
    else if (argc >= 3 && !strcmp(argv[1], "sysv")) mode_sysv(atoi(argv[2]));
    else if (argc >= 2 && !strcmp(argv[1], "abba")) mode_abba();
    fprintf(stderr, "usage: workload sem NAME N [let-go] | mqrecv NAME | mqleave NAME | shm NAME | sysv N | abba\n");
    return 2;
}
