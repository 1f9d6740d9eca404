/* The workload of the containers in containers_real.rs, built with gcc -static: makes a
 * semaphore set, says "semid N", waits for SIGUSR1, makes CALLS semops, holds HOLD seconds,
 * removes the set. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <unistd.h>

static volatile sig_atomic_t go;
static void on_usr1(int s) { (void)s; go = 1; }

int main(int argc, char **argv) {
  int calls = argc > 1 ? atoi(argv[1]) : 0;
  int hold = argc > 2 ? atoi(argv[2]) : 0;
  signal(SIGUSR1, on_usr1);
  int id = semget(IPC_PRIVATE, 1, 0600);
  if (id < 0) { perror("semget"); return 1; }
  printf("semid %d\n", id);
  fflush(stdout);
  while (!go) pause();
  struct sembuf up = {0, 1, 0};
  for (int i = 0; i < calls; i++)
    if (semop(id, &up, 1) < 0) { perror("semop"); break; }
  sleep(hold);
  semctl(id, 0, IPC_RMID);
  return 0;
}
