/*
 * test_core_exec.c - services that run programs: splitting args (quotes,
 * backslashes, errors), the exec keys and their one-line errors, and the
 * environment a child gets in each dialect (UCSPI, systemd, xinetd).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "exec_args.h"
#include "exec_env.h"
#include "test_core.h"

#define PATH "t/x.ini"

/* The words of s joined with '|', or "ERR:why". */
static const char *split(const char *s)
{
    static char out[512];
    char err[128], **v;
    size_t n;
    if (exec_args_split(s, &v, &n, err, sizeof err) < 0) {
        snprintf(out, sizeof out, "ERR:%s", err);
        return out;
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "|" : "", v[i]);
    CU_ASSERT_PTR_NULL(v[n]);
    exec_args_free(v);
    return out;
}

static void test_args_split(void)
{
    ASSERT_STR(split("-s /srv/tftp"), "-s|/srv/tftp");
    ASSERT_STR(split("  a \t b  "), "a|b");
    ASSERT_STR(split(""), "");
    ASSERT_STR(split("'a b' \"c d\""), "a b|c d");
    ASSERT_STR(split("a\"b\"'c'"), "abc");
    ASSERT_STR(split("'' \"\""), "|");
    ASSERT_STR(split("a\\ b"), "a b");
    ASSERT_STR(split("'$HOME \\n'"), "$HOME \\n");
    ASSERT_STR(split("\"a\\\"b \\\\ \\$x \\n\""), "a\"b \\ $x \\n");
    ASSERT_STR(split("--x='1 2'"), "--x=1 2");
    ASSERT_STR(split("'abc"), "ERR:unterminated single quote");
    ASSERT_STR(split("\"abc"), "ERR:unterminated double quote");
    ASSERT_STR(split("abc\\"), "ERR:backslash at the end (nothing to escape)");
}

static char err[CONF_ERR_MAX];

static void load_bad_at(unsigned line, const char *body, const char *msg)
{
    char text[2048];
    struct conf *c = NULL;
    snprintf(text, sizeof text, "[x]\nlisten = tcp://127.0.0.1:9\n%s", body);
    err[0] = '\0';
    int r = conf_load_string(text, PATH, &c, err, sizeof err);
    tc_assert_str(err, msg, line, __FILE__, CU_FALSE);
    tc_assert_long(r < 0, 1, "conf_load_string failed", line, __FILE__);
    if (r == 0)
        conf_free(c);
}
#define load_bad(body, msg) load_bad_at(__LINE__, (body), (msg))

static void test_conf_keys(void)
{
    struct conf *c = NULL;
    const char *text =
        "[x]\nlisten = tcp://127.0.0.1:9\nprogram = /bin/cat\nargs = -u 'a b'\nwait = yes\n"
        "stderr = null\nenv = A=1 'B=two words'\npass_env = HOME TERM\nuser = nobody\n"
        "groups = yes\nchdir = /tmp\numask = 027\nnice = 5\nrlimit_cpu = 10\n"
        "rlimit_as = 64M\nrlimit_nofile = unlimited\nrlimit_nproc = 20\nmax_instances = 3\n";
    int r = conf_load_string(text, PATH, &c, err, sizeof err);
    ASSERT_STR(r == 0 ? "" : err, "");
    CU_ASSERT_EQUAL_FATAL(r, 0);
    const struct exec_conf *e = &c->svcs[0].exec;
    ASSERT_STR(e->program, "/bin/cat");
    CU_ASSERT_EQUAL(e->nargs, 2);
    ASSERT_STR(e->args[1], "a b");
    CU_ASSERT(e->wait);
    CU_ASSERT_EQUAL(e->stderr_to, EXEC_STDERR_NULL);
    ASSERT_STR(e->env[1], "B=two words");
    CU_ASSERT_EQUAL(e->npass_env, 2);
    ASSERT_STR(e->user, "nobody");
    CU_ASSERT(e->groups);
    CU_ASSERT_EQUAL(e->umask, 027);
    CU_ASSERT_EQUAL(e->nice, 5);
    CU_ASSERT_EQUAL(e->rlimit[EXEC_RLIMIT_AS], 64ULL << 20);
    CU_ASSERT_EQUAL(e->rlimit[EXEC_RLIMIT_NOFILE], EXEC_RLIM_UNLIMITED);
    CU_ASSERT_EQUAL(e->rlimit_set, 0xfu);
    CU_ASSERT_EQUAL(e->max_instances, 3);
    conf_free(c);
}

static void test_conf_errors(void)
{
    load_bad("program = bin/cat\n",
             PATH ":3: [x] program: 'bin/cat' is not an absolute path (program must start with /)");
    load_bad("program = /nonexistent/prog\n",
             PATH ":3: [x] program: /nonexistent/prog: No such file or directory");
    load_bad("program = /etc/passwd\n", PATH ":3: [x] program: /etc/passwd is not an executable file");
    load_bad("program = /tmp\n", PATH ":3: [x] program: /tmp is not an executable file");
    load_bad("program = /bin/cat\nchroot = /nonexistent\n",
             PATH ":3: [x] program: /nonexistent/bin/cat: No such file or directory");
    load_bad("plugin = echo\nprogram = /bin/cat\n",
             PATH ":4: [x] program: given with plugin (line 3): a service runs a plugin or a "
             "program, not both");
    load_bad("plugin = echo\nargs = -v\n",
             PATH ":4: [x] args: only for a service that runs a program (program = PATH)");
    load_bad("program = /bin/cat\nargs = 'x\n", PATH ":4: [x] args: unterminated single quote");
    load_bad("program = /bin/cat\nwait = maybe\n", PATH ":4: [x] wait: 'maybe' is not yes or no");
    load_bad("program = /bin/cat\nstderr = file\n",
             PATH ":4: [x] stderr: 'file' is not log, socket or null");
    load_bad("program = /bin/cat\nenv = A\n",
             PATH ":4: [x] env: 'A' is not NAME=VALUE (NAME: letters, digits, _)");
    load_bad("program = /bin/cat\npass_env = A-B\n",
             PATH ":4: [x] pass_env: 'A-B' is not a variable name (letters, digits, _)");
    load_bad("program = /bin/cat\nuser = no-such-user-xyz\n",
             PATH ":4: [x] user: no such user 'no-such-user-xyz'");
    load_bad("program = /bin/cat\ngroup = no-such-group-xyz\n",
             PATH ":4: [x] group: no such group 'no-such-group-xyz'");
    load_bad("program = /bin/cat\ngroups = yes\n", PATH ":4: [x] groups: needs user = NAME (whose groups?)");
    load_bad("program = /bin/cat\numask = 999\n",
             PATH ":4: [x] umask: '999' is not an octal mask such as 022");
    load_bad("program = /bin/cat\nnice = 20\n", PATH ":4: [x] nice: '20' is not a number from -20 to 19");
    load_bad("program = /bin/cat\nrlimit_as = 12Q\n",
             PATH ":4: [x] rlimit_as: '12Q' is not a number (K, M, G allowed) or unlimited");
    load_bad("program = /bin/cat\nmax_instances = 0\n",
             PATH ":4: [x] max_instances: '0' is not a positive number");
    load_bad("program = /bin/cat\nchdir = tmp\n",
             PATH ":4: [x] chdir: 'tmp' is not an absolute path (chdir must start with /)");
    load_bad("",
             PATH ":1: [x] plugin: missing (every service needs plugin = NAME or program = PATH)");
}

/* The value of NAME in env, or NULL. */
static const char *get(char **env, const char *name)
{
    size_t len = strlen(name);
    for (; *env; env++)
        if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
            return *env + len + 1;
    return NULL;
}

static void set_in(struct sockaddr_storage *ss, socklen_t *len, const char *ip, int port)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (void *)ss;
    struct sockaddr_in6 *in6 = (void *)ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof *in;
    } else {
        CU_ASSERT_EQUAL(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
    }
}

static void test_env_tcp(void)
{
    struct exec_conf e = { 0 };
    struct exec_facts f = { .socktype = SOCK_STREAM };
    set_in(&f.local, &f.locallen, "127.0.0.1", 7000);
    set_in(&f.peer, &f.peerlen, "127.0.0.2", 40000);
    char **env;
    CU_ASSERT_EQUAL_FATAL(exec_env_build(&e, &f, NULL, &env), 0);
    ASSERT_STR(get(env, "PROTO"), "TCP");
    ASSERT_STR(get(env, "TCPLOCALIP"), "127.0.0.1");
    ASSERT_STR(get(env, "TCPLOCALPORT"), "7000");
    ASSERT_STR(get(env, "TCPREMOTEIP"), "127.0.0.2");
    ASSERT_STR(get(env, "TCPREMOTEPORT"), "40000");
    ASSERT_STR(get(env, "REMOTE_ADDR"), "127.0.0.2");
    ASSERT_STR(get(env, "REMOTE_PORT"), "40000");
    ASSERT_STR(get(env, "REMOTE_HOST"), "127.0.0.2");
    ASSERT_STR(get(env, "PATH"), EXEC_DEFAULT_PATH);
    CU_ASSERT_PTR_NULL(get(env, "IPCREMOTEEUID"));
    exec_args_free(env);

    set_in(&f.local, &f.locallen, "::1", 7000);
    set_in(&f.peer, &f.peerlen, "::ffff:10.1.2.3", 5);
    CU_ASSERT_EQUAL_FATAL(exec_env_build(&e, &f, NULL, &env), 0);
    ASSERT_STR(get(env, "TCPLOCALIP"), "::1");
    ASSERT_STR(get(env, "TCPREMOTEIP"), "10.1.2.3");
    exec_args_free(env);

    f.socktype = SOCK_DGRAM;
    CU_ASSERT_EQUAL_FATAL(exec_env_build(&e, &f, NULL, &env), 0);
    ASSERT_STR(get(env, "PROTO"), "UDP");
    ASSERT_STR(get(env, "UDPREMOTEPORT"), "5");
    ASSERT_STR(get(env, "REMOTE_ADDR"), "10.1.2.3");
    CU_ASSERT_PTR_NULL(get(env, "TCPREMOTEIP"));
    exec_args_free(env);
}

static void test_env_ipc(void)
{
    struct exec_conf e = { 0 };
    struct exec_facts f = { .socktype = SOCK_STREAM, .has_cred = true, .uid = 1000, .gid = 100 };
    struct sockaddr_un *un = (void *)&f.local;
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, "/run/x.sock");
    f.locallen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(un->sun_path) + 1);
    f.peer.ss_family = AF_UNIX;
    f.peerlen = sizeof(sa_family_t);
    char **env;
    CU_ASSERT_EQUAL_FATAL(exec_env_build(&e, &f, NULL, &env), 0);
    ASSERT_STR(get(env, "PROTO"), "IPC");
    ASSERT_STR(get(env, "IPCLOCALPATH"), "/run/x.sock");
    ASSERT_STR(get(env, "IPCREMOTEPATH"), "");
    ASSERT_STR(get(env, "IPCREMOTEEUID"), "1000");
    ASSERT_STR(get(env, "IPCREMOTEEGID"), "100");
    CU_ASSERT_PTR_NULL(get(env, "REMOTE_ADDR"));
    exec_args_free(env);
}

static void test_env_pass_and_set(void)
{
    char *envv[] = { "A=1", "B=2", NULL }, *passv[] = { "B", "C", "PROTO", NULL };
    char *from[] = { "B=from-superd", "PROTO=evil", "SECRET=x", NULL };
    struct exec_conf e = { .env = envv, .nenv = 2, .pass_env = passv, .npass_env = 3 };
    struct exec_facts f = { 0 };    /* wait: no client */
    char **env;
    CU_ASSERT_EQUAL_FATAL(exec_env_build(&e, &f, from, &env), 0);
    ASSERT_STR(get(env, "A"), "1");
    ASSERT_STR(get(env, "B"), "2");         /* env wins over pass_env */
    CU_ASSERT_PTR_NULL(get(env, "C"));      /* not in superd's environment */
    CU_ASSERT_PTR_NULL(get(env, "SECRET")); /* never passed unless named */
    ASSERT_STR(get(env, "PROTO"), "evil");  /* named in pass_env */
    size_t n = 0;
    while (env[n])
        n++;
    CU_ASSERT_EQUAL(n, 4);  /* PATH, PROTO, B, A: B replaced in place */
    exec_args_free(env);
}

int test_core_exec_register(void)
{
    static const struct tc_test tests[] = {
        { "args: quotes, backslashes, errors", test_args_split },
        { "conf: every exec key", test_conf_keys },
        { "conf: one-line errors", test_conf_errors },
        { "env: TCP, TCP6, UDP (UCSPI, systemd, xinetd)", test_env_tcp },
        { "env: unix stream (IPC, SO_PEERCRED)", test_env_ipc },
        { "env: env and pass_env", test_env_pass_and_set },
    };
    return tc_register("exec", NULL, NULL, tests, sizeof tests / sizeof tests[0]);
}
