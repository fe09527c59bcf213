/*
 * oomkit._procscan: the per-PID reads of `oomkit top`, in C and on every CPU.
 *
 * Why this exists: at 5,000 processes `top` spends most of its time opening,
 * reading and parsing /proc/PID/status and /proc/PID/oom_score_adj. The kernel
 * work (~20 us per status: fs/proc/array.c proc_pid_status) runs in parallel
 * on several CPUs when several threads ask, and the parse costs ~5 us per
 * process in Python but well under 1 us here. The GIL is released for the
 * whole scan; no Python object is touched by the worker threads.
 *
 * The module is optional: procscan.py does the same reads in Python when it
 * is not built (no compiler at install time). Its results are checked against
 * procfs.parse_status on the same bytes (tests/test_procscan_native.py).
 *
 * scan(proc_root, pids=None, threads=0, keep_raw=False) -> list of
 *     (pid, oom_score_adj, fields, raw)
 * for each PID whose two files could be read, ascending when pids is None (then
 * every numeric entry of proc_root), else in the order given. fields is
 * (name, state, uid, anon_kb, file_kb, shmem_kb, swap_kb, pte_kb) with name
 * and state as bytes exactly as printed, or None when the status file lacks one
 * of those lines (a kernel thread or zombie has no mm, so no Rss and Vm lines;
 * kernels before 4.5 print no RssAnon): then raw holds the status bytes for
 * procfs.parse_status. raw is also kept when keep_raw is true (for tests).
 *
 * start(...) takes the same arguments and returns at once with a Pending whose
 * result() waits for that list: `top --json` starts the scan before it imports
 * the rest of oomkit, so the imports run while the kernel generates the files.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_BYTES 128  /* comm is 16 bytes (64 for some kthreads), 4x when escaped */
#define MAX_THREADS 16
#define FIRST_READ 4096     /* a typical status is ~1.5 KB; read on when it is not all there */

enum { REC_SKIP = 0, REC_FIELDS = 1, REC_RAW = 2 };

typedef struct {
    int pid;
    int kind;
    long adj;
    char name[NAME_MAX_BYTES];
    int name_len;
    char state;
    long long uid, anon, file, shmem, swap, pte;
    char *raw;      /* malloc'd status bytes, when kept */
    size_t raw_len;
} rec_t;

/* The workers take PIDs in chunks from one shared counter rather than fixed shares:
 * a worker that shares its CPU with the caller (importing while the scan runs)
 * then does less, instead of everyone waiting for it at the end. */
#define CHUNK 32

typedef struct {
    const char *root;
    rec_t *recs;
    size_t n;
    size_t *next;   /* the first PID no worker has taken yet (atomic) */
    int keep_raw;
    int oom;        /* set when malloc failed */
} job_t;

/* Read a whole /proc file into *buf (grown with realloc). Returns bytes read or -1. */
static ssize_t read_all(const char *path, char **buf, size_t *cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (;;) {
        if (len == *cap) {
            size_t ncap = *cap * 2;
            char *n = realloc(*buf, ncap);
            if (n == NULL) {
                close(fd);
                errno = ENOMEM;
                return -1;
            }
            *buf = n;
            *cap = ncap;
        }
        ssize_t r = read(fd, *buf + len, *cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    return (ssize_t)len;
}

/* The number after "Key:\t" (spaces allowed, " kB" ignored); -1 if there is none. */
static long long number(const char *p, const char *end) {
    while (p < end && *p == ' ')
        p++;
    if (p == end || *p < '0' || *p > '9')
        return -1;
    long long v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (LLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p++ - '0');
    }
    return v;
}

#define KEY(s) s, sizeof(s) - 1

/* Fill rec from a status file; 1 if every line the badness needs was there. */
static int parse_status(const char *buf, size_t len, rec_t *rec) {
    /* The keys proc_pid_status() prints, and where each value goes. The first
     * Uid: number is the real uid (fs/proc/array.c task_state). */
    enum { NAME, STATE, UID, ANON, FILE_, SHMEM, PTE, SWAP, NKEYS };
    static const struct { const char *key; size_t len; } keys[NKEYS] = {
        {KEY("Name:\t")}, {KEY("State:\t")}, {KEY("Uid:\t")}, {KEY("RssAnon:\t")},
        {KEY("RssFile:\t")}, {KEY("RssShmem:\t")}, {KEY("VmPTE:\t")}, {KEY("VmSwap:\t")},
    };
    long long *values[NKEYS] = {NULL, NULL, &rec->uid, &rec->anon, &rec->file,
                                &rec->shmem, &rec->pte, &rec->swap};
    int found = 0;
    const char *p = buf, *end = buf + len;
    while (p < end && found != (1 << NKEYS) - 1) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        for (int k = 0; k < NKEYS; k++) {
            if (found & (1 << k) || (size_t)(eol - p) < keys[k].len ||
                memcmp(p, keys[k].key, keys[k].len) != 0)
                continue;
            const char *v = p + keys[k].len;
            if (k == NAME) {
                size_t n = (size_t)(eol - v);
                if (n >= NAME_MAX_BYTES)
                    return 0;
                memcpy(rec->name, v, n);
                rec->name_len = (int)n;
            } else if (k == STATE) {
                if (v == eol)
                    return 0;
                rec->state = *v;
            } else {
                long long x = number(v, eol);
                if (x < 0)
                    return 0;
                *values[k] = x;
            }
            found |= 1 << k;
            break;
        }
        p = eol + 1;
    }
    return found == (1 << NKEYS) - 1;
}

static int parse_adj(const char *buf, ssize_t len, long *out) {
    char tmp[32];
    if (len <= 0 || len >= (ssize_t)sizeof tmp)
        return 0;
    memcpy(tmp, buf, (size_t)len);
    tmp[len] = '\0';
    char *endp;
    errno = 0;
    long v = strtol(tmp, &endp, 10);
    if (errno != 0 || endp == tmp || (*endp != '\n' && *endp != '\0'))
        return 0;
    *out = v;
    return 1;
}

/* Read and parse one PID's two files into rec; -1 when out of memory, else 0. */
static int read_one(const job_t *job, rec_t *rec, char **buf, size_t *cap) {
    char path[PATH_MAX];
    char adj_buf[64];
    rec->kind = REC_SKIP;
    int n = snprintf(path, sizeof path, "%s/%d/status", job->root, rec->pid);
    if (n < 0 || (size_t)n >= sizeof path)
        return 0;
    ssize_t len = read_all(path, buf, cap);
    if (len < 0)  /* vanished between listdir and open, or unreadable */
        return errno == ENOMEM ? -1 : 0;
    snprintf(path, sizeof path, "%s/%d/oom_score_adj", job->root, rec->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t alen = read(fd, adj_buf, sizeof adj_buf);
    close(fd);
    if (!parse_adj(adj_buf, alen, &rec->adj))
        return 0;  /* half-written by an exiting task */
    int ok = parse_status(*buf, (size_t)len, rec);
    if (!ok || job->keep_raw) {
        rec->raw = malloc((size_t)len + 1);
        if (rec->raw == NULL)
            return -1;
        memcpy(rec->raw, *buf, (size_t)len);
        rec->raw_len = (size_t)len;
    }
    rec->kind = ok ? REC_FIELDS : REC_RAW;
    return 0;
}

static void *run_job(void *arg) {
    job_t *job = arg;
    size_t cap = FIRST_READ;
    char *buf = malloc(cap);
    if (buf == NULL) {
        job->oom = 1;
        return NULL;
    }
    while (!job->oom) {
        size_t i = __atomic_fetch_add(job->next, CHUNK, __ATOMIC_RELAXED);
        if (i >= job->n)
            break;
        size_t end = job->n - i > CHUNK ? i + CHUNK : job->n;
        for (; i < end && !job->oom; i++)
            if (read_one(job, &job->recs[i], &buf, &cap) < 0)
                job->oom = 1;
    }
    free(buf);
    return NULL;
}

static long default_threads(size_t n) {
    if (n < 512)  /* thread start-up costs more than it saves on a small scan */
        return 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : (cpus > 4 ? 4 : cpus);
}

static PyObject *record(const rec_t *r) {
    PyObject *fields = Py_None, *raw = Py_None;
    Py_INCREF(Py_None);
    Py_INCREF(Py_None);
    if (r->kind == REC_FIELDS) {
        Py_DECREF(fields);
        fields = Py_BuildValue("(y#y#LLLLLL)", r->name, (Py_ssize_t)r->name_len, &r->state,
                               (Py_ssize_t)1, r->uid, r->anon, r->file, r->shmem, r->swap,
                               r->pte);
        if (fields == NULL) {
            Py_DECREF(raw);
            return NULL;
        }
    }
    if (r->raw != NULL) {
        Py_DECREF(raw);
        raw = PyBytes_FromStringAndSize(r->raw, (Py_ssize_t)r->raw_len);
        if (raw == NULL) {
            Py_DECREF(fields);
            return NULL;
        }
    }
    return Py_BuildValue("(ilNN)", r->pid, r->adj, fields, raw);
}

/* One scan in flight: a coordinator thread lists PIDs (when none were given),
 * splits them among the workers, runs the first share itself and joins the rest. */
typedef struct {
    PyObject_HEAD
    char *root;
    rec_t *recs;
    size_t n;
    int list_pids;    /* no pids given: list the numeric entries of root */
    int threads;      /* 0: default_threads() */
    int keep_raw;
    int failed;       /* errno of a failure that leaves no result (ENOMEM, listing root) */
    int started;      /* the coordinator thread exists and must be joined */
    int collected;
    pthread_t coordinator;
} Pending;

static int cmp_int(const void *a, const void *b) {
    const int x = ((const rec_t *)a)->pid, y = ((const rec_t *)b)->pid;
    return (x > y) - (x < y);
}

/* The numeric entries of root, ascending (as procfs.list_pids). 0 or an errno. */
static int list_root(Pending *pd) {
    DIR *dir = opendir(pd->root);
    if (dir == NULL)
        return errno;
    size_t cap = 1024;
    rec_t *recs = calloc(cap, sizeof(rec_t));
    struct dirent *e;
    int err = recs == NULL ? ENOMEM : 0;
    while (err == 0 && (e = readdir(dir)) != NULL) {
        char *end;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid > INT_MAX)
            continue;
        if (pd->n == cap) {
            rec_t *more = realloc(recs, cap * 2 * sizeof(rec_t));
            if (more == NULL) {
                err = ENOMEM;
                break;
            }
            memset(more + cap, 0, cap * sizeof(rec_t));
            recs = more;
            cap *= 2;
        }
        recs[pd->n++].pid = (int)pid;
    }
    closedir(dir);
    if (err != 0) {
        free(recs);
        pd->n = 0;
        return err;
    }
    qsort(recs, pd->n, sizeof(rec_t), cmp_int);
    pd->recs = recs;
    return 0;
}

static void *coordinate(void *arg) {
    Pending *pd = arg;
    if (pd->list_pids && (pd->failed = list_root(pd)) != 0)
        return NULL;
    long nthreads = pd->threads > 0 ? pd->threads : default_threads(pd->n);
    if (nthreads > MAX_THREADS)
        nthreads = MAX_THREADS;
    if ((size_t)nthreads > pd->n)
        nthreads = pd->n > 0 ? (long)pd->n : 1;
    job_t jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    int running[MAX_THREADS] = {0};
    size_t next = 0;
    for (long t = 0; t < nthreads; t++) {
        jobs[t] = (job_t){pd->root, pd->recs, pd->n, &next, pd->keep_raw, 0};
        /* this thread is worker 0; PIDs a worker that failed to start would take, the
         * others take */
        running[t] = t > 0 && pthread_create(&tids[t], NULL, run_job, &jobs[t]) == 0;
    }
    run_job(&jobs[0]);
    for (long t = 1; t < nthreads; t++)
        if (running[t])
            pthread_join(tids[t], NULL);
    for (long t = 0; t < nthreads; t++)
        if (jobs[t].oom)
            pd->failed = ENOMEM;
    return NULL;
}

static void pending_wait(Pending *pd) {
    if (!pd->started)
        return;
    Py_BEGIN_ALLOW_THREADS
    pthread_join(pd->coordinator, NULL);
    Py_END_ALLOW_THREADS
    pd->started = 0;
}

static void pending_free(Pending *pd) {
    for (size_t i = 0; pd->recs != NULL && i < pd->n; i++)
        free(pd->recs[i].raw);
    free(pd->recs);
    pd->recs = NULL;
    free(pd->root);
    pd->root = NULL;
}

static void pending_dealloc(Pending *pd) {
    pending_wait(pd);  /* the workers write into recs: never free it under them */
    pending_free(pd);
    Py_TYPE(pd)->tp_free((PyObject *)pd);
}

static PyObject *pending_result(Pending *pd, PyObject *unused) {
    (void)unused;
    if (pd->collected) {
        PyErr_SetString(PyExc_RuntimeError, "result() was already taken");
        return NULL;
    }
    pending_wait(pd);
    pd->collected = 1;
    if (pd->failed != 0) {
        errno = pd->failed;
        PyObject *err = PyErr_SetFromErrnoWithFilename(PyExc_OSError, pd->root);
        pending_free(pd);
        return err;
    }
    PyObject *out = PyList_New(0);
    for (size_t i = 0; out != NULL && i < pd->n; i++) {
        if (pd->recs[i].kind == REC_SKIP)
            continue;
        PyObject *item = record(&pd->recs[i]);
        if (item == NULL || PyList_Append(out, item) < 0)
            Py_CLEAR(out);
        Py_XDECREF(item);
    }
    pending_free(pd);
    return out;
}

static PyMethodDef pending_methods[] = {
    {"result", (PyCFunction)pending_result, METH_NOARGS,
     "Wait for the scan; return [(pid, adj, fields, raw)] (once)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PendingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "oomkit._procscan.Pending",
    .tp_basicsize = sizeof(Pending),
    .tp_dealloc = (destructor)pending_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A scan running in the background (start()); result() waits for it.",
    .tp_methods = pending_methods,
};

static PyObject *start(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"proc_root", "pids", "threads", "keep_raw", NULL};
    PyObject *root_obj = NULL, *pids_obj = Py_None;
    int threads = 0, keep_raw = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|Oip:start", kwlist, PyUnicode_FSConverter,
                                     &root_obj, &pids_obj, &threads, &keep_raw))
        return NULL;
    Pending *pd = PyObject_New(Pending, &PendingType);
    if (pd == NULL) {
        Py_DECREF(root_obj);
        return NULL;
    }
    pd->recs = NULL;
    pd->n = 0;
    pd->threads = threads;
    pd->keep_raw = keep_raw;
    pd->failed = pd->started = pd->collected = 0;
    pd->list_pids = pids_obj == Py_None;
    pd->root = strdup(PyBytes_AS_STRING(root_obj));
    Py_DECREF(root_obj);
    if (pd->root == NULL) {
        Py_DECREF(pd);
        return PyErr_NoMemory();
    }
    if (!pd->list_pids) {
        PyObject *seq = PySequence_Fast(pids_obj, "pids must be a sequence of ints");
        if (seq == NULL) {
            Py_DECREF(pd);
            return NULL;
        }
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        pd->recs = calloc(n > 0 ? (size_t)n : 1, sizeof(rec_t));
        if (pd->recs == NULL) {
            Py_DECREF(seq);
            Py_DECREF(pd);
            return PyErr_NoMemory();
        }
        pd->n = (size_t)n;
        for (Py_ssize_t i = 0; i < n; i++) {
            long pid = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
            if ((pid == -1 && PyErr_Occurred()) || pid < 0 || pid > INT_MAX) {
                if (!PyErr_Occurred())
                    PyErr_Format(PyExc_ValueError, "not a PID: %ld", pid);
                Py_DECREF(seq);
                Py_DECREF(pd);
                return NULL;
            }
            pd->recs[i].pid = (int)pid;
        }
        Py_DECREF(seq);
    }
    if (pthread_create(&pd->coordinator, NULL, coordinate, pd) == 0) {
        pd->started = 1;
    } else {  /* no thread to spare: scan now, on this thread, without the GIL */
        Py_BEGIN_ALLOW_THREADS
        coordinate(pd);
        Py_END_ALLOW_THREADS
    }
    return (PyObject *)pd;
}

static PyObject *scan(PyObject *self, PyObject *args, PyObject *kwargs) {
    PyObject *pd = start(self, args, kwargs);
    if (pd == NULL)
        return NULL;
    PyObject *out = pending_result((Pending *)pd, NULL);
    Py_DECREF(pd);
    return out;
}

static PyMethodDef methods[] = {
    {"start", (PyCFunction)(void (*)(void))start, METH_VARARGS | METH_KEYWORDS,
     "start(proc_root, pids=None, threads=0, keep_raw=False) -> Pending: scan in the "
     "background (pids None: every PID in proc_root)."},
    {"scan", (PyCFunction)(void (*)(void))scan, METH_VARARGS | METH_KEYWORDS,
     "scan(proc_root, pids=None, threads=0, keep_raw=False) -> [(pid, adj, fields, raw)]"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_procscan",
    "The per-PID /proc reads of `oomkit top`, in C on every CPU (see procscan.py).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__procscan(void) {
    if (PyType_Ready(&PendingType) < 0)
        return NULL;
    return PyModule_Create(&module);
}
