/* pidfile.h - the pid file: made without following a symbolic link or
 * truncating any file, and removed at exit only if it is still ours. */
#ifndef SUPERD_PIDFILE_H
#define SUPERD_PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

struct pidfile {
    char *pf_path;          /* NULL: none made */
    int pf_fd;              /* open until pidfile_write; -1 after */
    dev_t pf_dev;           /* the file made, to know it again at removal */
    ino_t pf_ino;
    pid_t pf_owner;         /* the process that wrote its pid in it */
};

/*
 * Create `path` as a new, empty file (O_CREAT|O_EXCL|O_NOFOLLOW) and keep it
 * open: superd runs as root, and the directory may be writable by others.
 * An existing file is replaced only when it is a regular file that holds
 * nothing but a pid (or nothing) and no other superd runs with that pid; a
 * symbolic link, any other kind of file, a file with other content or a live
 * superd's pid file is an error that says so, and is left alone.  Called
 * before -d detaches, so a refusal is still the exit status.  On success *pf
 * owns a copy of the path and the descriptor.  0 or a negative errno, with a
 * message (naming the path) in err.
 */
int pidfile_create(struct pidfile *pf, const char *path, char *err, size_t errlen);

/* Write this process's pid into the file pidfile_create made, and close it.
 * 0 or a negative errno, with a message in err (the file is then removed). */
int pidfile_write(struct pidfile *pf, char *err, size_t errlen);

/*
 * Remove the file pidfile_create made, if it is still that file (same
 * device and inode, a regular file) and, once written, still holds the pid
 * of the process that wrote it, which must be this one; then forget it.  A
 * zeroed or removed *pf is a no-op.
 */
void pidfile_remove(struct pidfile *pf);

#endif
