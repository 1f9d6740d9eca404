/* POSIX queue calls counted exactly, for tests/posix_mq_real.rs: `mq_calls N NAME` makes
 * queue NAME (in the caller's IPC namespace, which the test makes private), then makes N
 * mq_timedsend and N mq_timedreceive that succeed at once, one mq_timedreceive that times out
 * (ETIMEDOUT, after 20 ms), and one that blocks until a child sends 50 ms later: N + 1
 * mq_timedsend (the child's included) and N + 2 mq_timedreceive, one failed. It removes the
 * queue and prints "ok PID CHILD". Anything unexpected: a message on stderr, exit 1.
 *
 * `mq_calls N NAME K` makes, besides, K pairs of mq_timedsend/mq_timedreceive as raw
 * syscalls (built with -m32: the time64 ones, 418/419, with a 64-bit timespec, where glibc's
 * own functions make 279/280 with a 32-bit one), one mq_getattr (mq_getsetattr) and one
 * mq_open of a queue that does not exist (ENOENT).
 * `mq_calls idle` waits until its stdin closes (a 32-bit process for the probe's watcher). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct timespec in_ms(long ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static int fail(const char *what) {
    perror(what);
    return 1;
}

/* The extra calls of `mq_calls N NAME K`: K send/receive pairs as raw syscalls, the time64
 * ones on i386 (glibc makes them only for a timeout past 2038), the native ones else. */
static int extra(mqd_t q, const char *name, long k) {
    char buf[64];
    struct timespec far = in_ms(60000);
#ifdef SYS_mq_timedsend_time64
    struct {
        long long tv_sec, tv_nsec;
    } t = {far.tv_sec, far.tv_nsec};
    long snd = SYS_mq_timedsend_time64, rcv = SYS_mq_timedreceive_time64;
#else
    struct timespec t = far;
    long snd = SYS_mq_timedsend, rcv = SYS_mq_timedreceive;
#endif
    for (long i = 0; i < k; i++) {
        if (syscall(snd, q, "t", 1, 2, &t) != 0)
            return fail("mq_timedsend (syscall)");
        if (syscall(rcv, q, buf, sizeof buf, NULL, &t) != 1)
            return fail("mq_timedreceive (syscall)");
    }
    struct mq_attr a;
    if (mq_getattr(q, &a) != 0 || a.mq_maxmsg != 8 || a.mq_msgsize != 64 || a.mq_curmsgs != 0)
        return fail("mq_getattr");
    char missing[128];
    snprintf(missing, sizeof missing, "%s-missing", name);
    if (mq_open(missing, O_RDONLY) != (mqd_t)-1 || errno != ENOENT)
        return fail("mq_open (expected ENOENT)");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "idle") == 0) {
        while (getchar() != EOF)
            ;
        return 0;
    }
    if (argc != 3 && argc != 4)
        return fprintf(stderr, "usage: mq_calls N NAME [K] | mq_calls idle\n"), 2;
    long n = atol(argv[1]);
    const char *name = argv[2];
    struct mq_attr attr = {.mq_maxmsg = 8, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1)
        return fail("mq_open");
    int rc = 0;
    char buf[64];
    struct timespec far = in_ms(60000);
    for (long i = 0; i < n && rc == 0; i++) {
        if (mq_timedsend(q, "m", 1, 1, &far) != 0)
            rc = fail("mq_timedsend");
        else if (mq_timedreceive(q, buf, sizeof buf, NULL, &far) != 1)
            rc = fail("mq_timedreceive");
    }
    if (rc == 0 && argc == 4)
        rc = extra(q, name, atol(argv[3]));
    if (rc == 0) {
        struct timespec soon = in_ms(20);
        if (mq_timedreceive(q, buf, sizeof buf, NULL, &soon) != -1 || errno != ETIMEDOUT)
            rc = fail("mq_timedreceive (expected ETIMEDOUT)");
    }
    pid_t child = -1;
    if (rc == 0) {
        child = fork();
        if (child == 0) {
            usleep(50000);
            struct timespec t = in_ms(60000);
            _exit(mq_timedsend(q, "b", 1, 0, &t) == 0 ? 0 : 1);
        }
        if (child < 0)
            rc = fail("fork");
        else if (mq_timedreceive(q, buf, sizeof buf, NULL, &far) != 1)
            rc = fail("mq_timedreceive (blocking)");
        int st = 0;
        if (child > 0 && (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st)))
            rc = fail("the sending child");
    }
    mq_close(q);
    if (mq_unlink(name) != 0 && rc == 0)
        rc = fail("mq_unlink");
    if (rc == 0)
        printf("ok %d %d\n", (int)getpid(), (int)child);
    return rc;
}
