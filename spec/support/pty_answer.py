"""Runs a command on a pseudo-terminal (its stdin, stdout and stderr) and
answers a "[y/N]" question once, as a person at a terminal would; copies
everything the command wrote to stdout and exits with its status.

    python3 spec/support/pty_answer.py ANSWER COMMAND [ARGS...]
"""
import os
import pty
import sys


def main():
    answer, argv = sys.argv[1], sys.argv[2:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    seen, answered = b"", False
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        seen = (seen + data)[-4096:]
        if not answered and b"[y/N]" in seen:
            os.write(fd, (answer + "\n").encode())
            answered = True
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
