/* superd-import - print a superd.ini equivalent to an inetd.conf or an
 * xinetd configuration (xinetd.conf with its includes, a xinetd.d
 * directory, or one service file).  See docs/superd-import.1.
 *
 * Exit status: 0 when a superd.ini was written (comments in it say what did
 * not carry over), 1 when the input cannot be read, 2 on a usage error. */
#include "import.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: superd-import [-f inetd|xinetd] [-r ROOT] PATH\n"
          "  PATH  an inetd.conf, an xinetd.conf, a xinetd.d directory or one xinetd\n"
          "        service file ('-': an inetd.conf on stdin)\n"
          "  -f    the input's format (default: guessed from its first entry)\n"
          "  -r    read absolute includedir/includefile paths under ROOT\n"
          "The superd.ini is written on stdout.\n", f);
}

/* xinetd when the first entry is one of its keywords, else inetd. */
static int guess(const char *path, bool *xinetd)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    *xinetd = false;
    while (getline(&line, &cap, f) >= 0) {
        char word[32] = "";
        if (sscanf(line, " %31[^ \t\r\n{]", word) != 1 || word[0] == '#')
            continue;
        *xinetd = strcmp(word, "service") == 0 || strcmp(word, "defaults") == 0 ||
                  strcmp(word, "includedir") == 0 || strcmp(word, "includefile") == 0;
        break;
    }
    free(line);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    const char *format = NULL, *root = NULL;
    int c;
    while ((c = getopt(argc, argv, "f:r:h")) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            if (strcmp(format, "inetd") != 0 && strcmp(format, "xinetd") != 0) {
                fprintf(stderr, "superd-import: -f %s: inetd or xinetd\n", format);
                return 2;
            }
            break;
        case 'r':
            root = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    struct imp_out *o = imp_out_new();
    int r;
    struct stat st;
    if (strcmp(path, "-") == 0) {
        r = format && strcmp(format, "xinetd") == 0 ? -EINVAL : imp_inetd(o, path);
        if (r == -EINVAL)
            fputs("superd-import: an xinetd configuration is read from a file\n", stderr);
    } else if (stat(path, &st) < 0) {
        r = -errno;
        fprintf(stderr, "superd-import: %s: %s\n", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        r = imp_xinetd_dir(o, path);
    } else {
        bool xinetd = format && strcmp(format, "xinetd") == 0;
        r = format ? 0 : guess(path, &xinetd);
        if (r < 0)
            fprintf(stderr, "superd-import: %s: %s\n", path, strerror(-r));
        else
            r = xinetd ? imp_xinetd(o, path, root) : imp_inetd(o, path);
    }
    if (r == 0)
        imp_print(o, stdout, strcmp(path, "-") == 0 ? "stdin" : path);
    imp_out_free(o);
    if (r == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "superd-import: writing: %s\n", strerror(errno));
        return 1;
    }
    return r == 0 ? 0 : 1;
}
