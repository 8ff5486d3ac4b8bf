/*
 * host.proc -- run programs without a shell: argv, cwd, environment, stdin,
 * captured stdout/stderr, timeouts; plus PATH lookup, clocks and sleep.
 *
 *   proc.run(req)   -> res | nil, err, code   waits for the child
 *   proc.spawn(req) -> child | nil, err, code for long-running children
 *   req = { argv = {prog, args...},   required; prog without '/' is looked up
 *           cwd = dir,                  in the child's PATH (see below)
 *           env = {K = V},            the child's whole environment
 *           env_add = {K = V|false},  added to env or the inherited one; false removes
 *           stdin = string,           fed to the child (default /dev/null)
 *           stdout = "capture"|"inherit"|"null"|"file:PATH"   (default capture)
 *           stderr = same | "stdout"  (merge)                  (file: truncates)
 *           timeout = s,              then SIGTERM to the group, SIGKILL after
 *           kill_grace = s (2),       (spawn: checked while read_line/poll/wait run)
 *           max_output = bytes (64 MiB per captured stream; the first bytes are kept),
 *           kill_group = true: when the child exits, SIGKILL what is left of its
 *                      process group (background processes it started) }
 *   res = { ok, how = "exit"|"signal", code, stdout, stderr (when captured),
 *           timed_out, truncated, interrupted, duration, pid }
 *   err = "proc: cannot run 'x': <strerror>" | "proc: cannot chdir to 'd': ..." |
 *         "proc: cannot open 'f': ..."; code = "ENOENT", "EACCES", ...
 *   child:pid(), child:read_line(["stdout"|"stderr",] [timeout]) -> line |
 *   nil, "timeout"|"eof"|"interrupted"; child:poll() -> nil | res;
 *   child:wait([timeout]) -> res | nil, "timeout"; child:kill([sig]) -> boolean;
 *   child:close() -> res (SIGTERM, 2 s, SIGKILL). res of a spawned child holds
 *   the output not consumed by read_line. Captured streams are read only inside
 *   read_line/poll/wait: a chatty child should write to "null" or "file:".
 *   proc.which(name [, path]), getenv, environ, pid, uid, gid, monotime, time,
 *   sleep, isatty.
 *   proc.rusage(["self"|"children"]) -> { maxrss = KiB, user = s, system = s }
 *     ("children": the waited-for ones; maxrss is the largest of them)
 *   proc.trap_interrupts(on) -> was_on   counts SIGINT/SIGTERM instead of dying
 *   proc.interrupts() -> n               how many arrived since the trap went on
 *     While the trap is on, a signal only counts: proc.sleep returns early
 *     when one arrives, a host.http transfer aborts (kind "interrupted") when a
 *     second one arrives during it, and a third ends the process at once
 *     (exit 130) whatever Lua is doing. Signals the process ignored when the
 *     trap went on (nohup) stay ignored.
 *
 * How a child is started (POSIX fork + execve, never a shell):
 *  - argv[1] without '/' is looked up in the PATH of the child's environment
 *    (the parent's PATH when that environment has none) before forking;
 *  - the child calls setpgid(0, 0), so a timeout or a close can signal its
 *    whole process tree (kill(-pgid, sig));
 *  - every pipe is O_CLOEXEC, and the child marks all fds >= 3 close-on-exec
 *    before execve, so it inherits nothing but fds 0, 1 and 2;
 *  - exec and chdir failures travel back on a close-on-exec "error pipe": the
 *    child writes {stage, errno} there when execve fails, and EOF means the
 *    exec succeeded. That is how `nil, "proc: cannot run 'x': ...", "ENOENT"`
 *    is reported reliably.
 *
 * Ownership: the pid, the pipes and the capture buffers live in a userdata
 * (CHILD) created before anything is acquired. Its __gc kills the process
 * group and reaps the child if it still runs, so neither a Lua error nor a
 * forgotten handle leaves zombies or open fds.
 *
 * Signals: while the host waits for a child (run, read_line, wait) it blocks
 * SIGINT, SIGTERM and SIGCHLD and waits in ppoll() with them unblocked, so a
 * child's exit or Ctrl-C wakes it without races. A SIGINT/SIGTERM received
 * there is forwarded to the child's process group (which, being a separate
 * group, does not get the terminal's SIGINT itself) and reported as
 * res.interrupted = true. SIGPIPE is ignored during the wait so that a child
 * that stops reading its stdin cannot kill the host. The previous handlers
 * and mask are restored before returning to Lua.
 */
#define _GNU_SOURCE /* pipe2, ppoll, environ */

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

#define CHILD "lakehost.proc.child"

#define DEFAULT_MAX_OUTPUT ((lua_Integer)64 * 1024 * 1024)
#define DEFAULT_KILL_GRACE 2.0 /* seconds between SIGTERM and SIGKILL on timeout */
#define CLOSE_GRACE 2.0        /* seconds close()/__gc of a spawned child waits */
#define ABANDON_AFTER 1.0      /* seconds to wait for pipe EOF after SIGKILL */
#define CHUNK 65536            /* bytes per read()/write() */
#define REAP_POLL 0.05         /* seconds between looks at a child not yet reaped */
#define DEFAULT_PATH "/bin:/usr/bin"

/* Where a child's stdout/stderr go. */
enum { OUT_CAPTURE, OUT_INHERIT, OUT_NULL, OUT_FILE, OUT_STDOUT };

/* Why pump() returned. */
enum { PUMP_DONE, PUMP_DEADLINE, PUMP_INTERRUPTED };

/* One captured output stream. Unread bytes are buf[off, len). */
typedef struct {
  char *buf;
  size_t off, len, cap;
  size_t limit; /* max unread bytes kept (max_output) */
  int truncated;
  int captured;
  int fd; /* parent's read end, -1 when closed or not captured */
} Stream;

/* A started (or about to be started) child process. */
typedef struct {
  pid_t pid; /* 0: not started; also the process group id */
  int reaped, status, unknown_status;
  int fd_in;           /* parent's write end of the child's stdin, -1 when closed */
  const char *in_data; /* stdin bytes, anchored by user value 1 */
  size_t in_len, in_off;
  Stream out, err;
  double start, end; /* monotime at fork and when the run ended */
  double deadline;   /* monotime of the timeout, 0: none */
  double kill_grace; /* seconds between SIGTERM and SIGKILL */
  double kill_at;    /* monotime to send SIGKILL, 0: not scheduled */
  double abandon_at; /* monotime to stop reading after SIGKILL, 0: none */
  int termed, killed, timed_out, interrupted, nomem;
  int gentle;     /* spawned: close with SIGTERM, CLOSE_GRACE, SIGKILL */
  int kill_group; /* SIGKILL the group once the leader has exited */
  int closed;
} Child;

/* A parsed request. Strings point into Lua values anchored on the stack. */
typedef struct {
  const char *fname; /* "proc.run" or "proc.spawn", for messages */
  const char *prog;  /* argv[1] as given */
  char **argv;       /* NULL-terminated */
  char **envp;       /* NULL-terminated; environ when inherited */
  const char *path_env;
  const char *cwd;
  const char *in_data;
  size_t in_len;
  int has_in;
  int out_mode, err_mode;
  const char *out_file, *err_file;
  double timeout, kill_grace;
  size_t max_output;
  int kill_group;
} Req;

/* What went wrong while starting a child: reported once back in Lua. */
typedef struct {
  int stage; /* 'e' exec, 'c' chdir, 'o' open, 'p' pipe/fork, 'd' dup */
  int err;
  const char *what; /* the path or program the message names */
} StartErr;

/* Signal state saved while waiting. */
typedef struct {
  struct sigaction old_int, old_term, old_chld, old_pipe;
  int caught_int, caught_term; /* whether we installed the handler */
  sigset_t oldmask, waitmask;
} SigState;

volatile sig_atomic_t lakehost_interrupts = 0;
static int trap_on = 0;
static struct sigaction trap_old_int, trap_old_term;

/* Last SIGINT/SIGTERM received while waiting (0: none). */
static volatile sig_atomic_t caught_signal = 0;

static const struct {
  int num;
  const char *name;
} errno_names[] = {{ENOENT, "ENOENT"},
                   {EACCES, "EACCES"},
                   {ENOTDIR, "ENOTDIR"},
                   {ENOEXEC, "ENOEXEC"},
                   {E2BIG, "E2BIG"},
                   {ENOMEM, "ENOMEM"},
                   {ELOOP, "ELOOP"},
                   {ENAMETOOLONG, "ENAMETOOLONG"},
                   {ETXTBSY, "ETXTBSY"},
                   {EPERM, "EPERM"},
                   {EISDIR, "EISDIR"},
                   {EMFILE, "EMFILE"},
                   {ENFILE, "ENFILE"},
                   {EAGAIN, "EAGAIN"},
                   {EINVAL, "EINVAL"},
                   {EIO, "EIO"},
                   {EROFS, "EROFS"},
                   {ENOSPC, "ENOSPC"},
                   {EEXIST, "EEXIST"},
                   {EFAULT, "EFAULT"},
                   {0, NULL}};

static const struct {
  const char *name;
  int num;
} signal_names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT},
                    {"STOP", SIGSTOP}, {NULL, 0}};

static const char *const req_fields[] = {"argv",       "cwd",        "env",        "env_add",
                                         "stdin",      "stdout",     "stderr",     "timeout",
                                         "kill_grace", "max_output", "kill_group", NULL};

/* ---- small helpers ---------------------------------------------------- */

static double monotime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void push_errno_name(lua_State *L, int e) {
  int i;
  for (i = 0; errno_names[i].name != NULL; i++) {
    if (errno_names[i].num == e) {
      lua_pushstring(L, errno_names[i].name);
      return;
    }
  }
  lua_pushfstring(L, "errno %d", e);
}

/* Closes *fd if open and marks it closed. */
static void close_fd(int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Writes "<cwd>/<rel>" (or abs as is) into out; 0 or an errno. */
static int absolutize(const char *p, char *out, size_t outsz) {
  char cwd[PATH_MAX];
  if (p[0] == '/') {
    if (strlen(p) >= outsz) return ENAMETOOLONG;
    strcpy(out, p);
    return 0;
  }
  if (getcwd(cwd, sizeof cwd) == NULL) return errno;
  if ((size_t)snprintf(out, outsz, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, p) >= outsz)
    return ENAMETOOLONG;
  return 0;
}

/* 0 when path is an executable regular file, else an errno. */
static int check_exec(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return errno;
  if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0) return EACCES;
  return 0;
}

/*
 * Finds name like execvp does: names with '/' are checked directly, others
 * in each PATH entry (an empty entry is the current directory). The result
 * is absolute. Returns 0 or ENOENT / EACCES (found, not executable) / ...
 */
static int resolve(const char *name, const char *path, char *out, size_t outsz) {
  char cand[PATH_MAX];
  int seen_eacces = 0, e;
  const char *p;
  if (name[0] == '\0') return ENOENT;
  if (strchr(name, '/') != NULL) {
    e = absolutize(name, out, outsz);
    return e != 0 ? e : check_exec(out);
  }
  if (path == NULL) path = DEFAULT_PATH;
  p = path;
  for (;;) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    int n = len == 0 ? snprintf(cand, sizeof cand, "%s", name)
                     : snprintf(cand, sizeof cand, "%.*s/%s", (int)len, p, name);
    if (n >= 0 && (size_t)n < sizeof cand && absolutize(cand, out, outsz) == 0) {
      e = check_exec(out);
      if (e == 0) return 0;
      if (e == EACCES) seen_eacces = 1;
    }
    if (end == NULL) break;
    p = end + 1;
  }
  return seen_eacces ? EACCES : ENOENT;
}

/* ---- capture streams -------------------------------------------------- */

/* Appends n bytes, keeping at most s->limit unread ones. Never raises. */
static void stream_append(Child *ch, Stream *s, const char *data, size_t n) {
  size_t avail = s->len - s->off;
  size_t room = s->limit > avail ? s->limit - avail : 0;
  size_t take = n < room ? n : room;
  if (take < n) s->truncated = 1;
  if (take == 0) return;
  if (s->off > 0 && s->len + take > s->cap) { /* reuse the consumed front */
    memmove(s->buf, s->buf + s->off, avail);
    s->len = avail;
    s->off = 0;
  }
  if (s->len + take > s->cap) {
    size_t need = s->len + take;
    size_t ncap = s->cap * 2 > need ? s->cap * 2 : need;
    char *nb;
    if (ncap < 4096) ncap = 4096;
    if (ncap > s->limit && s->limit >= need) ncap = s->limit;
    nb = realloc(s->buf, ncap);
    if (nb == NULL) { /* reported after the wait; drop the data until then */
      ch->nomem = 1;
      s->truncated = 1;
      return;
    }
    s->buf = nb;
    s->cap = ncap;
  }
  memcpy(s->buf + s->len, data, take);
  s->len += take;
}

static void stream_free(Stream *s) {
  close_fd(&s->fd);
  free(s->buf);
  s->buf = NULL;
  s->off = s->len = s->cap = 0;
}

/* ---- signals ---------------------------------------------------------- */

static void on_forwarded_signal(int sig) { caught_signal = sig; }

static void on_sigchld(int sig) { (void)sig; /* only wakes ppoll() */ }

/* Installs our handlers; blocks SIGINT, SIGTERM, SIGCHLD outside ppoll(). */
static void sig_enter(SigState *s) {
  struct sigaction sa;
  sigset_t block;
  caught_signal = 0;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGCHLD);
  sigprocmask(SIG_BLOCK, &block, &s->oldmask);
  s->waitmask = s->oldmask;
  sigdelset(&s->waitmask, SIGINT);
  sigdelset(&s->waitmask, SIGTERM);
  sigdelset(&s->waitmask, SIGCHLD);

  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  /* A signal the host ignores (nohup, `cmd &` in sh) stays ignored. */
  sigaction(SIGINT, NULL, &s->old_int);
  sigaction(SIGTERM, NULL, &s->old_term);
  s->caught_int = s->old_int.sa_handler != SIG_IGN;
  s->caught_term = s->old_term.sa_handler != SIG_IGN;
  sa.sa_handler = on_forwarded_signal;
  if (s->caught_int) sigaction(SIGINT, &sa, NULL);
  if (s->caught_term) sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_sigchld; /* never SIG_IGN: that would auto-reap */
  sa.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, &s->old_chld);
  sa.sa_handler = SIG_IGN;
  sa.sa_flags = 0;
  sigaction(SIGPIPE, &sa, &s->old_pipe);
}

/* Unblocks first (pending signals reach our handlers), then restores. */
static void sig_leave(SigState *s) {
  sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
  if (s->caught_int) sigaction(SIGINT, &s->old_int, NULL);
  if (s->caught_term) sigaction(SIGTERM, &s->old_term, NULL);
  sigaction(SIGCHLD, &s->old_chld, NULL);
  sigaction(SIGPIPE, &s->old_pipe, NULL);
}

/* ---- the child side (between fork and execve: async-signal-safe only) -- */

typedef struct {
  int stage, err;
} ExecReport;

static void child_fail(int errfd, int stage) {
  ExecReport r;
  ssize_t n;
  r.stage = stage;
  r.err = errno;
  do n = write(errfd, &r, sizeof r);
  while (n < 0 && errno == EINTR);
  _exit(127);
}

/* Marks every fd >= low close-on-exec (close_range, else one by one). */
static void cloexec_from(int low) {
  long max, fd;
#if defined(SYS_close_range) && defined(CLOSE_RANGE_CLOEXEC)
  if (syscall(SYS_close_range, (unsigned)low, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
#endif
  max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (fd = low; fd < max; fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

/* fds[i] >= 0 becomes fd i; -1 keeps the parent's fd i; merge: 2 = 1. */
static void child_exec(const char *exe, char **argv, char **envp, const char *cwd, int fds[3],
                       int merge, int errfd, const SigState *ss) {
  int i;
  setpgid(0, 0);
  if (ss->caught_int) sigaction(SIGINT, &ss->old_int, NULL);
  if (ss->caught_term) sigaction(SIGTERM, &ss->old_term, NULL);
  sigaction(SIGCHLD, &ss->old_chld, NULL);
  sigaction(SIGPIPE, &ss->old_pipe, NULL);
  sigprocmask(SIG_SETMASK, &ss->oldmask, NULL);

  /* Lift every source fd above 2 first so no dup2() clobbers another. */
  if (errfd < 3 && (errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 3)) < 0) _exit(127);
  for (i = 0; i < 3; i++) {
    if (fds[i] >= 0 && fds[i] < 3 && (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) < 0)
      child_fail(errfd, 'd');
  }
  for (i = 0; i < 3; i++) {
    if (fds[i] >= 0 && dup2(fds[i], i) < 0) child_fail(errfd, 'd');
  }
  if (merge && dup2(1, 2) < 0) child_fail(errfd, 'd');

  cloexec_from(3); /* nothing else crosses execve */

  if (cwd != NULL && chdir(cwd) != 0) child_fail(errfd, 'c');
  execve(exe, argv, envp);
  child_fail(errfd, 'e');
}

/* ---- the parent side -------------------------------------------------- */

static void signal_group(Child *ch, int sig) {
  if (ch->pid > 0) kill(-ch->pid, sig);
}

static int group_busy(const Child *ch) { return !ch->reaped || ch->out.fd >= 0 || ch->err.fd >= 0; }

static void try_reap(Child *ch) {
  int st;
  pid_t r;
  if (ch->reaped || ch->pid <= 0) return;
  do r = waitpid(ch->pid, &st, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == ch->pid) {
    ch->reaped = 1;
    ch->status = st;
  } else if (r < 0) { /* ECHILD: someone else reaped it */
    ch->reaped = 1;
    ch->unknown_status = 1;
  }
}

/* Blocking reap. */
static void reap(Child *ch) {
  int st;
  pid_t r;
  if (ch->reaped || ch->pid <= 0) return;
  do r = waitpid(ch->pid, &st, 0);
  while (r < 0 && errno == EINTR);
  ch->reaped = 1;
  if (r == ch->pid)
    ch->status = st;
  else
    ch->unknown_status = 1;
}

/* Whether the child has exited (without reaping: its pid keeps the group). */
static int has_exited(Child *ch) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)ch->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) return 1;
  return si.si_pid != 0;
}

/* Kills the child if it still runs and reaps it. gentle (spawned): SIGTERM,
 * up to CLOSE_GRACE s, then SIGKILL; else SIGKILL at once. */
static void child_stop(Child *ch) {
  if (ch->pid > 0 && !ch->reaped) {
    if (ch->gentle) {
      double until = monotime() + CLOSE_GRACE;
      signal_group(ch, SIGTERM);
      while (!has_exited(ch) && monotime() < until) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
      }
    }
    /* The unreaped leader keeps the group id reserved: no pid reuse race,
     * and stragglers in the group die too. */
    signal_group(ch, SIGKILL);
    reap(ch);
  }
}

/* Closes the fds and frees the buffers; the handle is closed after. */
static void child_release(Child *ch) {
  close_fd(&ch->fd_in);
  stream_free(&ch->out);
  stream_free(&ch->err);
  ch->closed = 1;
}

typedef int (*StopFn)(Child *ch, void *arg);

static int stop_finished(Child *ch, void *arg) {
  (void)arg;
  return ch->reaped && ch->out.fd < 0 && ch->err.fd < 0;
}

static void pump_read(Child *ch, Stream *s) {
  char tmp[CHUNK];
  ssize_t n = read(s->fd, tmp, sizeof tmp);
  if (n > 0)
    stream_append(ch, s, tmp, (size_t)n);
  else if (n == 0 || (errno != EINTR && errno != EAGAIN))
    close_fd(&s->fd);
}

static void pump_write(Child *ch) {
  size_t left = ch->in_len - ch->in_off;
  ssize_t n = write(ch->fd_in, ch->in_data + ch->in_off, left < CHUNK ? left : CHUNK);
  if (n > 0)
    ch->in_off += (size_t)n;
  else if (n < 0 && errno != EINTR && errno != EAGAIN)
    close_fd(&ch->fd_in); /* EPIPE */
}

static void later(double *best, double t) {
  if (t > 0 && (*best < 0 || t < *best)) *best = t;
}

/*
 * Feeds stdin, drains stdout/stderr, reaps, and runs the timeout clock until
 * stop(ch) holds (PUMP_DONE), monotime `until` passes (PUMP_DEADLINE; until
 * < 0: never; the fds are polled at least once), or a forwarded SIGINT /
 * SIGTERM arrives and stop_on_interrupt is set (PUMP_INTERRUPTED).
 * Must run between sig_enter and sig_leave. Never raises.
 */
static int pump(Child *ch, const SigState *ss, double until, int stop_on_interrupt, StopFn stop,
                void *arg) {
  int passes = 0;
  for (;;) {
    struct pollfd pfd[3];
    Stream *who[3];
    struct timespec ts;
    double now, wake = -1;
    int n = 0, i, r;

    /* The exited leader is not reaped yet, so its pid still names the group. */
    if (ch->kill_group && !ch->reaped && ch->pid > 0 && has_exited(ch)) signal_group(ch, SIGKILL);
    try_reap(ch);
    if (ch->fd_in >= 0 && (ch->reaped || ch->in_off >= ch->in_len)) close_fd(&ch->fd_in);
    now = monotime();
    if (ch->deadline > 0 && !ch->termed && now >= ch->deadline && group_busy(ch)) {
      ch->timed_out = ch->termed = 1;
      signal_group(ch, SIGTERM);
      if (ch->kill_at == 0) ch->kill_at = now + ch->kill_grace;
    }
    if (ch->kill_at > 0 && !ch->killed && now >= ch->kill_at && group_busy(ch)) {
      ch->killed = 1;
      signal_group(ch, SIGKILL);
      ch->abandon_at = now + ABANDON_AFTER;
    }
    if (ch->abandon_at > 0 && now >= ch->abandon_at) { /* an escaped process holds the pipes */
      close_fd(&ch->out.fd);
      close_fd(&ch->err.fd);
    }
    if (caught_signal != 0) {
      int sig = caught_signal;
      caught_signal = 0;
      ch->interrupted = 1;
      if (group_busy(ch)) {
        signal_group(ch, sig);
        if (ch->kill_at == 0) ch->kill_at = now + ch->kill_grace;
      }
      if (stop_on_interrupt) return PUMP_INTERRUPTED;
    }
    if (stop(ch, arg)) return PUMP_DONE;
    if (until >= 0 && now >= until && passes > 0) return PUMP_DEADLINE;

    if (ch->fd_in >= 0) {
      pfd[n].fd = ch->fd_in;
      pfd[n].events = POLLOUT;
      who[n++] = NULL;
    }
    if (ch->out.fd >= 0) {
      pfd[n].fd = ch->out.fd;
      pfd[n].events = POLLIN;
      who[n++] = &ch->out;
    }
    if (ch->err.fd >= 0) {
      pfd[n].fd = ch->err.fd;
      pfd[n].events = POLLIN;
      who[n++] = &ch->err;
    }
    if (ch->deadline > 0 && !ch->termed) later(&wake, ch->deadline);
    if (ch->kill_at > 0 && !ch->killed) later(&wake, ch->kill_at);
    if (ch->abandon_at > 0) later(&wake, ch->abandon_at);
    if (until >= 0) later(&wake, until > now ? until : now + 1e-9);
    /* SIGCHLD is sent to the process, not to this thread: when another
     * thread runs (libcurl's resolver), it may take the signal and this
     * ppoll sleep on. While the child is not reaped, look every REAP_POLL. */
    if (!ch->reaped) later(&wake, now + REAP_POLL);
    if (wake >= 0) {
      double d = wake - now;
      if (d < 0) d = 0;
      ts.tv_sec = (time_t)d;
      ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
      if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
    }
    /* SIGCHLD / SIGINT / SIGTERM are unblocked only inside ppoll: no race. */
    r = ppoll(pfd, (nfds_t)n, wake >= 0 ? &ts : NULL, &ss->waitmask);
    passes++;
    if (r <= 0) continue; /* timeout or EINTR */
    for (i = 0; i < n; i++) {
      if (pfd[i].revents == 0) continue;
      if (who[i] == NULL) {
        if (pfd[i].revents & (POLLERR | POLLNVAL))
          close_fd(&ch->fd_in);
        else
          pump_write(ch);
      } else if (pfd[i].revents & POLLNVAL) {
        close_fd(&who[i]->fd);
      } else {
        pump_read(ch, who[i]);
      }
    }
  }
}

/* ---- requests --------------------------------------------------------- */

/* Pushes t[key] without metamethods: what is read stays anchored in t. */
static int rawfield(lua_State *L, int t, const char *key) {
  lua_pushstring(L, key);
  return lua_rawget(L, t < 0 ? t - 1 : t);
}

/* Checked string field: NULL when absent. */
static const char *opt_string_field(lua_State *L, const Req *r, int t, const char *key,
                                    size_t *len) {
  const char *s;
  int ty = rawfield(L, t, key);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (ty != LUA_TSTRING)
    luaL_error(L, "%s: field '%s' must be a string (got %s)", r->fname, key, lua_typename(L, ty));
  s = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* still anchored by the request table */
  return s;
}

static double opt_number_field(lua_State *L, const Req *r, int t, const char *key, double dflt,
                               int allow_zero) {
  double v;
  int ty = rawfield(L, t, key);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return dflt;
  }
  if (ty != LUA_TNUMBER)
    luaL_error(L, "%s: field '%s' must be a number (got %s)", r->fname, key, lua_typename(L, ty));
  v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!(v > 0 || (allow_zero && v == 0)) || !isfinite(v))
    luaL_error(L, "%s: field '%s' must be a %s number", r->fname, key,
               allow_zero ? "non-negative" : "positive");
  return v;
}

/* "capture" | "inherit" | "null" | "file:PATH" (| "stdout" for stderr). */
static int parse_out(lua_State *L, const Req *r, int t, const char *key, const char **file) {
  size_t len;
  const char *s = opt_string_field(L, r, t, key, &len);
  *file = NULL;
  if (s == NULL || strcmp(s, "capture") == 0) return OUT_CAPTURE;
  if (strcmp(s, "inherit") == 0) return OUT_INHERIT;
  if (strcmp(s, "null") == 0) return OUT_NULL;
  if (strcmp(key, "stderr") == 0 && strcmp(s, "stdout") == 0) return OUT_STDOUT;
  if (strncmp(s, "file:", 5) == 0 && len > 5 && strlen(s) == len) {
    *file = s + 5;
    return OUT_FILE;
  }
  return luaL_error(
      L, "%s: field '%s' must be \"capture\", \"inherit\", \"null\"%s or \"file:PATH\" (got '%s')",
      r->fname, key, strcmp(key, "stderr") == 0 ? ", \"stdout\"" : "", s);
}

/* Checks an env table; applies it to the map at index `map`. */
static void apply_env(lua_State *L, const Req *r, int t, const char *key, int map) {
  if (rawfield(L, t, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "%s: field '%s' must be a table (got %s)", r->fname, key, luaL_typename(L, -1));
  lua_pushnil(L);                /* [env, k] */
  while (lua_next(L, -2) != 0) { /* [env, k, v] */
    const char *k;
    size_t klen;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "%s: %s keys must be strings (got %s)", r->fname, key, luaL_typename(L, -2));
    k = lua_tolstring(L, -2, &klen);
    if (klen == 0 || strchr(k, '=') != NULL || strlen(k) != klen)
      luaL_error(L, "%s: bad %s variable name '%s'", r->fname, key, k);
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
      lua_pushvalue(L, -2);
      lua_pushnil(L);
      lua_rawset(L, map); /* removed */
    } else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
      size_t vlen;
      const char *v;
      lua_pushvalue(L, -1); /* tostring on a copy keeps lua_next's key intact */
      v = lua_tolstring(L, -1, &vlen);
      if (strlen(v) != vlen)
        luaL_error(L, "%s: %s value of '%s' contains a NUL byte", r->fname, key, k);
      lua_pushvalue(L, -3);
      lua_pushfstring(L, "%s=%s", k, v); /* [env, k, v, vstr, k, "k=v"] */
      lua_rawset(L, map);
      lua_pop(L, 1);
    } else {
      luaL_error(L, "%s: %s value of '%s' must be a string, a number or false (got %s)", r->fname,
                 key, k, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/*
 * Parses the request at index 1 into r. Raises on misuse. Pushes anchors
 * (argv block, env map, envp block) that must stay on the stack until the
 * child has been started.
 */
static void parse_req(lua_State *L, Req *r) {
  lua_Integer n, i;
  int has_env, has_env_add, kg;
  size_t len;
  double maxout;

  /* Unknown keys first: a typo must not be silently ignored. */
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    int k, known = 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
      for (k = 0; req_fields[k] != NULL; k++)
        if (strcmp(lua_tostring(L, -2), req_fields[k]) == 0) known = 1;
    }
    if (!known) {
      lua_pushvalue(L, -2);
      luaL_error(L, "%s: unknown field '%s'", r->fname, luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
  }

  /* argv */
  if (rawfield(L, 1, "argv") != LUA_TTABLE)
    luaL_error(L, "%s: field 'argv' must be a table (got %s)", r->fname, luaL_typename(L, -1));
  n = (lua_Integer)lua_rawlen(L, -1);
  if (n < 1) luaL_error(L, "%s: field 'argv' must not be empty", r->fname);
  if (n > 1000000) luaL_error(L, "%s: field 'argv' is too long", r->fname);
  r->argv = (char **)lua_newuserdatauv(L, ((size_t)n + 1) * sizeof(char *), 0);
  for (i = 1; i <= n; i++) {
    int ty = lua_rawgeti(L, -2, i);
    const char *s;
    if (ty != LUA_TSTRING)
      luaL_error(L, "%s: argv[%d] must be a string (got %s)", r->fname, (int)i,
                 lua_typename(L, ty));
    s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len) luaL_error(L, "%s: argv[%d] contains a NUL byte", r->fname, (int)i);
    r->argv[i - 1] = (char *)s; /* anchored by the argv table */
    lua_pop(L, 1);
  }
  r->argv[n] = NULL;
  r->prog = r->argv[0];
  lua_remove(L, -2); /* [argvblock]; argv table stays in the request */

  r->cwd = opt_string_field(L, r, 1, "cwd", &len);
  if (r->cwd != NULL && strlen(r->cwd) != len)
    luaL_error(L, "%s: field 'cwd' contains a NUL byte", r->fname);
  r->in_data = opt_string_field(L, r, 1, "stdin", &r->in_len);
  r->has_in = r->in_data != NULL;
  r->out_mode = parse_out(L, r, 1, "stdout", &r->out_file);
  r->err_mode = parse_out(L, r, 1, "stderr", &r->err_file);
  r->timeout = opt_number_field(L, r, 1, "timeout", 0, 0);
  r->kill_grace = opt_number_field(L, r, 1, "kill_grace", DEFAULT_KILL_GRACE, 1);
  maxout = opt_number_field(L, r, 1, "max_output", (double)DEFAULT_MAX_OUTPUT, 1);
  if (maxout != floor(maxout) || maxout > 1e15)
    luaL_error(L, "%s: field 'max_output' must be an integer", r->fname);
  r->max_output = (size_t)maxout;
  kg = rawfield(L, 1, "kill_group");
  if (kg != LUA_TNIL && kg != LUA_TBOOLEAN)
    luaL_error(L, "%s: field 'kill_group' must be a boolean (got %s)", r->fname,
               lua_typename(L, kg));
  r->kill_group = lua_toboolean(L, -1);
  lua_pop(L, 1);

  /* Environment: inherited as is unless env / env_add are given. */
  rawfield(L, 1, "env");
  has_env = !lua_isnil(L, -1);
  rawfield(L, 1, "env_add");
  has_env_add = !lua_isnil(L, -1);
  lua_pop(L, 2);
  r->envp = environ;
  r->path_env = getenv("PATH");
  if (has_env || has_env_add) {
    int map;
    char **e;
    lua_newtable(L); /* [argvblock, map]: name -> "name=value" */
    map = lua_gettop(L);
    if (!has_env) {
      for (e = environ; *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL) continue;
        lua_pushlstring(L, *e, (size_t)(eq - *e));
        lua_pushstring(L, *e);
        lua_rawset(L, map);
      }
    }
    apply_env(L, r, 1, "env", map);
    apply_env(L, r, 1, "env_add", map);
    n = 0;
    lua_pushnil(L);
    while (lua_next(L, map) != 0) {
      n++;
      lua_pop(L, 1);
    }
    r->envp = (char **)lua_newuserdatauv(L, ((size_t)n + 1) * sizeof(char *), 0);
    i = 0;
    lua_pushnil(L);
    while (lua_next(L, map) != 0) {
      r->envp[i++] = (char *)lua_tostring(L, -1); /* anchored by map */
      lua_pop(L, 1);
    }
    r->envp[i] = NULL;
    if (lua_getfield(L, map, "PATH") == LUA_TSTRING) r->path_env = lua_tostring(L, -1) + 5;
    lua_pop(L, 1);
  }
}

/* ---- starting ---------------------------------------------------------- */

static Child *check_child(lua_State *L, int idx) {
  Child *ch = (Child *)luaL_checkudata(L, idx, CHILD);
  if (ch->closed) luaL_error(L, "proc: attempt to use a closed child");
  return ch;
}

/* Pushes a new, not yet started child (closed state: nothing to free). */
static Child *child_new(lua_State *L) {
  Child *ch = (Child *)lua_newuserdatauv(L, sizeof(Child), 1);
  memset(ch, 0, sizeof *ch);
  ch->fd_in = ch->out.fd = ch->err.fd = -1;
  ch->closed = 1;
  luaL_setmetatable(L, CHILD);
  return ch;
}

/* Opens the child's end for an output mode; -1 with *fd unchanged = inherit. */
static int open_out(int mode, const char *file, int *child_fd, Stream *s, StartErr *se) {
  int p[2];
  if (mode == OUT_CAPTURE) {
    if (pipe2(p, O_CLOEXEC) != 0 || set_nonblock(p[0]) != 0) {
      se->stage = 'p';
      se->err = errno;
      return -1;
    }
    s->fd = p[0];
    s->captured = 1;
    *child_fd = p[1];
  } else if (mode == OUT_NULL || mode == OUT_FILE) {
    const char *path = mode == OUT_NULL ? "/dev/null" : file;
    *child_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (*child_fd < 0) {
      se->stage = 'o';
      se->err = errno;
      se->what = path;
      return -1;
    }
  }
  return 0;
}

/*
 * Starts r as ch (between sig_enter and sig_leave, no Lua calls). Returns 0,
 * or -1 with se filled (the child, if any, is reaped).
 */
static int start_child(Child *ch, const Req *r, const char *exe, const SigState *ss, StartErr *se) {
  int cfd[3] = {-1, -1, -1}, ep[2] = {-1, -1}, i, merge = 0;
  ExecReport rep;
  ssize_t n;
  pid_t pid;

  se->what = r->prog;
  ch->closed = 0;
  ch->out.limit = ch->err.limit = r->max_output;
  ch->kill_grace = r->kill_grace;
  ch->kill_group = r->kill_group;
  if (r->has_in) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0 || set_nonblock(p[1]) != 0) {
      se->stage = 'p';
      se->err = errno;
      goto fail;
    }
    cfd[0] = p[0];
    ch->fd_in = p[1];
    ch->in_data = r->in_data;
    ch->in_len = r->in_len;
  } else if ((cfd[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
    se->stage = 'o';
    se->err = errno;
    se->what = "/dev/null";
    goto fail;
  }
  if (open_out(r->out_mode, r->out_file, &cfd[1], &ch->out, se) != 0) goto fail;
  if (r->err_mode == OUT_STDOUT ||
      (r->err_mode == OUT_FILE && r->out_mode == OUT_FILE && strcmp(r->out_file, r->err_file) == 0))
    merge = 1;
  else if (open_out(r->err_mode, r->err_file, &cfd[2], &ch->err, se) != 0)
    goto fail;
  if (pipe2(ep, O_CLOEXEC) != 0) {
    se->stage = 'p';
    se->err = errno;
    goto fail;
  }

  ch->start = monotime();
  if (r->timeout > 0) ch->deadline = ch->start + r->timeout;
  pid = fork();
  if (pid < 0) {
    se->stage = 'p';
    se->err = errno;
    goto fail;
  }
  if (pid == 0) child_exec(exe, r->argv, r->envp, r->cwd, cfd, merge, ep[1], ss);
  ch->pid = pid;
  setpgid(pid, pid); /* also here: a signal to the group must not miss it */
  for (i = 0; i < 3; i++) close_fd(&cfd[i]);
  close_fd(&ep[1]);
  do n = read(ep[0], &rep, sizeof rep);
  while (n < 0 && errno == EINTR);
  close_fd(&ep[0]);
  if (n == (ssize_t)sizeof rep) { /* exec (or chdir, dup) failed in the child */
    reap(ch);
    se->stage = rep.stage;
    se->err = rep.err;
    if (rep.stage == 'c') se->what = r->cwd;
    goto fail;
  }
  return 0;

fail:
  for (i = 0; i < 3; i++) close_fd(&cfd[i]);
  close_fd(&ep[0]);
  close_fd(&ep[1]);
  close_fd(&ch->fd_in);
  stream_free(&ch->out);
  stream_free(&ch->err);
  ch->closed = 1;
  return -1;
}

/* nil, "proc: ...", "ENOENT" */
static int push_start_error(lua_State *L, const StartErr *se) {
  luaL_pushfail(L);
  switch (se->stage) {
    case 'c':
      lua_pushfstring(L, "proc: cannot chdir to '%s': %s", se->what, strerror(se->err));
      break;
    case 'o':
      lua_pushfstring(L, "proc: cannot open '%s': %s", se->what, strerror(se->err));
      break;
    case 'e':
      lua_pushfstring(L, "proc: cannot run '%s': %s", se->what, strerror(se->err));
      break;
    default:
      lua_pushfstring(L, "proc: cannot start '%s': %s", se->what, strerror(se->err));
      break;
  }
  push_errno_name(L, se->err);
  return 3;
}

/*
 * Common start for run and spawn: request at 1, child at 2. Returns 0 (the
 * child runs; signals are still set up in *ss) or the number of fail values
 * pushed (signals restored).
 */
static int start(lua_State *L, Req *r, Child *ch, SigState *ss) {
  char exe[PATH_MAX];
  StartErr se;
  parse_req(L, r);
  if (strchr(r->prog, '/') != NULL) {
    if (strlen(r->prog) >= sizeof exe) {
      se.stage = 'e';
      se.err = ENAMETOOLONG;
      se.what = r->prog;
      return push_start_error(L, &se);
    }
    strcpy(exe, r->prog); /* as execvp: relative to the child's cwd */
  } else if ((se.err = resolve(r->prog, r->path_env, exe, sizeof exe)) != 0) {
    se.stage = 'e';
    se.what = r->prog;
    return push_start_error(L, &se);
  }
  /* Anchor stdin for the child's lifetime (spawn keeps writing it later). */
  rawfield(L, 1, "stdin");
  lua_setiuservalue(L, 2, 1);
  sig_enter(ss);
  if (start_child(ch, r, exe, ss, &se) != 0) {
    sig_leave(ss);
    return push_start_error(L, &se);
  }
  return 0;
}

/* Pushes a string field with a stream's unread bytes. */
static void push_stream(lua_State *L, const Stream *s, const char *key) {
  if (!s->captured) return;
  lua_pushlstring(L, s->buf ? s->buf + s->off : "", s->len - s->off);
  lua_setfield(L, -2, key);
}

/* Pushes the result table of a reaped child. */
static void push_result(lua_State *L, const Child *ch) {
  int st = ch->status;
  int sig = !ch->unknown_status && WIFSIGNALED(st);
  lua_Integer code = ch->unknown_status ? -1 : sig ? WTERMSIG(st) : WEXITSTATUS(st);
  lua_createtable(L, 0, 11);
  lua_pushboolean(L, !ch->unknown_status && !sig && code == 0);
  lua_setfield(L, -2, "ok");
  lua_pushstring(L, sig ? "signal" : "exit");
  lua_setfield(L, -2, "how");
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  push_stream(L, &ch->out, "stdout");
  push_stream(L, &ch->err, "stderr");
  lua_pushboolean(L, ch->timed_out);
  lua_setfield(L, -2, "timed_out");
  lua_pushboolean(L, ch->out.truncated || ch->err.truncated);
  lua_setfield(L, -2, "truncated");
  lua_pushboolean(L, ch->interrupted);
  lua_setfield(L, -2, "interrupted");
  lua_pushnumber(L, (ch->end > 0 ? ch->end : monotime()) - ch->start);
  lua_setfield(L, -2, "duration");
  lua_pushinteger(L, (lua_Integer)ch->pid);
  lua_setfield(L, -2, "pid");
}

/* Raises the memory error a pump could not raise itself. */
static void check_nomem(lua_State *L, Child *ch) {
  if (ch->nomem) {
    ch->nomem = 0;
    luaL_error(L, "proc: not enough memory to capture the output of pid %d", (int)ch->pid);
  }
}

/* ---- __gc / __close ---------------------------------------------------- */

static int child_gc(lua_State *L) {
  Child *ch = (Child *)luaL_checkudata(L, 1, CHILD);
  if (!ch->closed) {
    child_stop(ch);
    child_release(ch);
  }
  return 0;
}

/* ---- module functions -------------------------------------------------- */

/* proc.run(req) -> res | nil, err, code */
static int proc_run(lua_State *L) {
  Req r;
  SigState ss;
  Child *ch;
  int nret;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  ch = child_new(L); /* [req, child] */
  memset(&r, 0, sizeof r);
  r.fname = "proc.run";
  if ((nret = start(L, &r, ch, &ss)) != 0) return nret;
  pump(ch, &ss, -1, 0, stop_finished, NULL);
  ch->end = monotime();
  sig_leave(&ss);
  check_nomem(L, ch);
  push_result(L, ch);
  child_release(ch); /* reaped already */
  return 1;
}

/* proc.spawn(req) -> child | nil, err, code */
static int proc_spawn(lua_State *L) {
  Req r;
  SigState ss;
  Child *ch;
  int nret;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  ch = child_new(L);
  memset(&r, 0, sizeof r);
  r.fname = "proc.spawn";
  if ((nret = start(L, &r, ch, &ss)) != 0) return nret;
  ch->gentle = 1;
  sig_leave(&ss);
  lua_settop(L, 2);
  return 1;
}

/* proc.which(name [, path]) -> absolute path | nil */
static int proc_which(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  const char *path = luaL_optstring(L, 2, getenv("PATH"));
  char out[PATH_MAX];
  if (strlen(name) != len || resolve(name, path, out, sizeof out) != 0) {
    luaL_pushfail(L);
    return 1;
  }
  lua_pushstring(L, out);
  return 1;
}

/* proc.getenv(name) -> string | nil */
static int proc_getenv(lua_State *L) {
  const char *v = getenv(luaL_checkstring(L, 1));
  if (v == NULL)
    luaL_pushfail(L);
  else
    lua_pushstring(L, v);
  return 1;
}

/* proc.environ() -> {NAME = value} */
static int proc_environ(lua_State *L) {
  char **e;
  lua_newtable(L);
  for (e = environ; *e != NULL; e++) {
    const char *eq = strchr(*e, '=');
    if (eq == NULL) continue;
    lua_pushlstring(L, *e, (size_t)(eq - *e));
    lua_pushstring(L, eq + 1);
    lua_rawset(L, -3);
  }
  return 1;
}

/* proc.pid() -> n */
static int proc_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* proc.uid() -> n (effective) */
static int proc_uid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)geteuid());
  return 1;
}

/* proc.gid() -> n (effective) */
static int proc_gid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getegid());
  return 1;
}

/* proc.monotime() -> seconds (CLOCK_MONOTONIC) */
static int proc_monotime(lua_State *L) {
  lua_pushnumber(L, monotime());
  return 1;
}

/* proc.time() -> seconds since the epoch (CLOCK_REALTIME) */
static int proc_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
  return 1;
}

/* proc.sleep(seconds) */
static int proc_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  struct timespec ts, rem;
  luaL_argcheck(L, s >= 0 && s < 1e9, 1, "must be a non-negative number of seconds");
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
  /* An interrupt while the trap is on ends the sleep: the caller looks. */
  while (nanosleep(&ts, &rem) != 0 && errno == EINTR && !(trap_on && lakehost_interrupts > 0))
    ts = rem;
  return 0;
}

/* The trap's handler: async-signal-safe only (a counter, write, _exit). */
static void on_trapped_signal(int sig) {
  static const char msg[] = "\nlakehost: interrupted three times: exiting now\n";
  (void)sig;
  if (lakehost_interrupts >= 2) {
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(130);
  }
  lakehost_interrupts = lakehost_interrupts + 1;
}

/* proc.trap_interrupts(on) -> was_on */
static int proc_trap_interrupts(lua_State *L) {
  int on = lua_toboolean(L, 1), was = trap_on;
  if (on && !trap_on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_trapped_signal; /* no SA_RESTART: a sleep or poll wakes */
    lakehost_interrupts = 0;
    if (sigaction(SIGINT, NULL, &trap_old_int) != 0 ||
        sigaction(SIGTERM, NULL, &trap_old_term) != 0)
      return luaL_error(L, "proc.trap_interrupts: sigaction: %s", strerror(errno));
    if (trap_old_int.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, NULL);
    if (trap_old_term.sa_handler != SIG_IGN) sigaction(SIGTERM, &sa, NULL);
    trap_on = 1;
  } else if (!on && trap_on) {
    sigaction(SIGINT, &trap_old_int, NULL);
    sigaction(SIGTERM, &trap_old_term, NULL);
    trap_on = 0;
    lakehost_interrupts = 0;
  }
  lua_pushboolean(L, was);
  return 1;
}

/* proc.interrupts() -> n */
static int proc_interrupts(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lakehost_interrupts);
  return 1;
}

/* proc.isatty(fd) -> boolean */
static int proc_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  lua_pushboolean(L, fd >= 0 && fd <= INT_MAX && isatty((int)fd));
  return 1;
}

/* ---- resource usage ----------------------------------------------------- */

/* nil, "<what>: <strerror(e)>", "ECODE"; what is formatted like lua_pushfstring. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
push_sys_error(lua_State *L, int e, const char *fmt, ...) {
  va_list ap;
  luaL_pushfail(L);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_pushfstring(L, "%s: %s", lua_tostring(L, -1), strerror(e));
  lua_remove(L, -2);
  push_errno_name(L, e);
  return 3;
}

/* proc.rusage(["self"|"children"]) -> { maxrss, user, system } */
static int proc_rusage(lua_State *L) {
  static const char *const whos[] = {"self", "children", NULL};
  int who = luaL_checkoption(L, 1, "self", whos) == 0 ? RUSAGE_SELF : RUSAGE_CHILDREN;
  struct rusage ru;
  if (getrusage(who, &ru) != 0) return push_sys_error(L, errno, "proc: getrusage");
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)ru.ru_maxrss);
  lua_setfield(L, -2, "maxrss");
  lua_pushnumber(L, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6);
  lua_setfield(L, -2, "user");
  lua_pushnumber(L, (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
  lua_setfield(L, -2, "system");
  return 1;
}

/* ---- child methods ------------------------------------------------------ */

/* child:pid() -> n */
static int child_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_child(L, 1)->pid);
  return 1;
}

static int stop_line(Child *ch, void *arg) {
  Stream *s = (Stream *)arg;
  (void)ch;
  return s->fd < 0 || (s->len > s->off && memchr(s->buf + s->off, '\n', s->len - s->off) != NULL);
}

/* child:read_line(["stdout"|"stderr",] [timeout]) -> line | nil, "timeout"|"eof"|"interrupted" */
static int child_read_line(lua_State *L) {
  static const char *const streams[] = {"stdout", "stderr", NULL};
  Child *ch = check_child(L, 1);
  int which = 0, targ = 2, why;
  Stream *s;
  const char *nl;
  double until = -1;
  SigState ss;
  if (lua_type(L, 2) == LUA_TSTRING || lua_isnil(L, 2)) {
    which = luaL_checkoption(L, 2, "stdout", streams);
    targ = 3;
  }
  if (!lua_isnoneornil(L, targ)) {
    double t = luaL_checknumber(L, targ);
    luaL_argcheck(L, t >= 0, targ, "timeout must be non-negative");
    until = monotime() + t;
  }
  s = which == 0 ? &ch->out : &ch->err;
  if (!s->captured)
    return luaL_error(L, "proc: %s of pid %d is not captured", streams[which], (int)ch->pid);
  sig_enter(&ss);
  why = pump(ch, &ss, until, 1, stop_line, s);
  sig_leave(&ss);
  check_nomem(L, ch);
  nl = s->len > s->off ? memchr(s->buf + s->off, '\n', s->len - s->off) : NULL;
  if (nl != NULL || (s->fd < 0 && s->len > s->off)) { /* a line, or the last one at EOF */
    size_t n = nl != NULL ? (size_t)(nl - (s->buf + s->off)) : s->len - s->off;
    lua_pushlstring(L, s->buf + s->off, n);
    s->off += nl != NULL ? n + 1 : n;
    return 1;
  }
  luaL_pushfail(L);
  lua_pushstring(L, why == PUMP_INTERRUPTED ? "interrupted" : s->fd < 0 ? "eof" : "timeout");
  return 2;
}

/* child:poll() -> nil (running) | res */
static int child_poll(lua_State *L) {
  Child *ch = check_child(L, 1);
  SigState ss;
  sig_enter(&ss);
  pump(ch, &ss, monotime(), 0, stop_finished, NULL);
  sig_leave(&ss);
  check_nomem(L, ch);
  if (!ch->reaped) {
    luaL_pushfail(L);
    return 1;
  }
  if (ch->end == 0) ch->end = monotime();
  push_result(L, ch);
  return 1;
}

/* child:wait([timeout]) -> res | nil, "timeout" */
static int child_wait(lua_State *L) {
  Child *ch = check_child(L, 1);
  double until = -1;
  SigState ss;
  if (!lua_isnoneornil(L, 2)) {
    double t = luaL_checknumber(L, 2);
    luaL_argcheck(L, t >= 0, 2, "timeout must be non-negative");
    until = monotime() + t;
  }
  sig_enter(&ss);
  pump(ch, &ss, until, 0, stop_finished, NULL);
  sig_leave(&ss);
  check_nomem(L, ch);
  if (!stop_finished(ch, NULL)) {
    luaL_pushfail(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  if (ch->end == 0) ch->end = monotime();
  push_result(L, ch);
  return 1;
}

/* child:kill(["TERM"|"KILL"|"INT"|...|number]) -> true | false (not running) */
static int child_kill(lua_State *L) {
  Child *ch = check_child(L, 1);
  int sig = SIGTERM;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0 && n < 65, 2, "bad signal number");
    sig = (int)n;
  } else if (!lua_isnoneornil(L, 2)) {
    const char *name = luaL_checkstring(L, 2);
    int i;
    if (strncmp(name, "SIG", 3) == 0) name += 3;
    for (i = 0; signal_names[i].name != NULL; i++)
      if (strcmp(name, signal_names[i].name) == 0) break;
    if (signal_names[i].name == NULL) return luaL_argerror(L, 2, "unknown signal name");
    sig = signal_names[i].num;
  }
  try_reap(ch);
  lua_pushboolean(L, !ch->reaped && kill(-ch->pid, sig) == 0);
  return 1;
}

/* child:close() -> res (SIGTERM, up to 2 s, SIGKILL; reaped) | nil (already closed) */
static int child_close(lua_State *L) {
  Child *ch = (Child *)luaL_checkudata(L, 1, CHILD);
  if (ch->closed) return 0;
  try_reap(ch);
  child_stop(ch);
  if (ch->end == 0) ch->end = monotime();
  push_result(L, ch); /* should this raise, __gc still releases */
  child_release(ch);
  return 1;
}

static int child_tostring(lua_State *L) {
  Child *ch = (Child *)luaL_checkudata(L, 1, CHILD);
  if (ch->closed)
    lua_pushfstring(L, "%s (closed)", CHILD);
  else
    lua_pushfstring(L, "%s (pid %d)", CHILD, (int)ch->pid);
  return 1;
}

/* ---- registration ------------------------------------------------------- */

static const luaL_Reg proc_funcs[] = {{"run", proc_run},
                                      {"spawn", proc_spawn},
                                      {"which", proc_which},
                                      {"getenv", proc_getenv},
                                      {"environ", proc_environ},
                                      {"pid", proc_pid},
                                      {"uid", proc_uid},
                                      {"gid", proc_gid},
                                      {"monotime", proc_monotime},
                                      {"time", proc_time},
                                      {"sleep", proc_sleep},
                                      {"isatty", proc_isatty},
                                      {"rusage", proc_rusage},
                                      {"trap_interrupts", proc_trap_interrupts},
                                      {"interrupts", proc_interrupts},
                                      {NULL, NULL}};

static const luaL_Reg child_meths[] = {{"pid", child_pid},   {"read_line", child_read_line},
                                       {"poll", child_poll}, {"wait", child_wait},
                                       {"kill", child_kill}, {"close", child_close},
                                       {NULL, NULL}};

static const luaL_Reg child_metas[] = {{"__index", NULL},
                                       {"__gc", child_gc},
                                       {"__close", child_gc},
                                       {"__tostring", child_tostring},
                                       {NULL, NULL}};

int luaopen_host_proc(lua_State *L) {
  luaL_newmetatable(L, CHILD);
  luaL_setfuncs(L, child_metas, 0);
  luaL_newlibtable(L, child_meths);
  luaL_setfuncs(L, child_meths, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, proc_funcs);
  return 1;
}
