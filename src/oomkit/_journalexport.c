/*
 * oomkit._journalexport: journal export entries to JSON lines, without the GIL.
 *
 * Why this exists: `oomkit why` reads the journal as `journalctl -o export`
 * because journalctl prints JSON three times slower; journal_export.py turns
 * each entry into the JSON line the parser reads. In Python that costs ~8 us an
 * entry, and a journal after an OOM storm has millions; here it is ~0.2 us, on
 * the reading thread, while the other one parses.
 *
 * to_json_lines(data) -> (bytes, int): exactly journal_export.to_json_lines,
 * which documents the format and which this is tested against byte for byte.
 * Optional: journal_export.py runs the Python twin when this is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define NFIELDS 6
static const char *const FIELDS[NFIELDS] = {
    "MESSAGE", "__REALTIME_TIMESTAMP", "_SOURCE_MONOTONIC_TIMESTAMP",
    "SYSLOG_IDENTIFIER", "_HOSTNAME", "_BOOT_ID",
};

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} out_t;

static void put(out_t *o, const void *s, size_t n) {
    if (o->failed)
        return;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (p == NULL) {
            o->failed = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void putc_(out_t *o, char c) { put(o, &c, 1); }

static int field_index(const unsigned char *name, size_t n) {
    for (int i = 0; i < NFIELDS; i++)
        if (strlen(FIELDS[i]) == n && memcmp(FIELDS[i], name, n) == 0)
            return i;
    return -1;
}

/* Printable ASCII but '"' and '\\': copied into JSON as it is (_PLAIN). */
static int plain(const unsigned char *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e || v[i] == '"' || v[i] == '\\')
            return 0;
    return 1;
}

/* Strict UTF-8, as Python's decoder: no overlong forms, surrogates or > U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t more;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return 0;
        }
        if (i + more >= n) /* cut off */
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= more; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
        i += more + 1;
    }
    return 1;
}

/* The value as json.dumps(text, ensure_ascii=False) writes it, or as a list of
 * byte values when it is not UTF-8 (json.dumps(list(value), separators=(",", ":"))). */
static void put_value(out_t *o, const unsigned char *v, size_t n) {
    char tmp[8];
    if (plain(v, n) || utf8_valid(v, n)) {
        putc_(o, '"');
        for (size_t i = 0; i < n; i++) {
            unsigned char c = v[i];
            switch (c) {
            case '"': put(o, "\\\"", 2); break;
            case '\\': put(o, "\\\\", 2); break;
            case '\n': put(o, "\\n", 2); break;
            case '\r': put(o, "\\r", 2); break;
            case '\t': put(o, "\\t", 2); break;
            case '\b': put(o, "\\b", 2); break;
            case '\f': put(o, "\\f", 2); break;
            default:
                if (c < 0x20) {
                    snprintf(tmp, sizeof tmp, "\\u%04x", c);
                    put(o, tmp, 6);
                } else {
                    putc_(o, (char)c);
                }
            }
        }
        putc_(o, '"');
        return;
    }
    putc_(o, '[');
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(tmp, sizeof tmp, i ? ",%u" : "%u", (unsigned)v[i]);
        put(o, tmp, (size_t)k);
    }
    putc_(o, ']');
}

/* One entry from pos: 1 and *next set when whole, 0 when cut off. */
static int entry(const unsigned char *d, size_t end, size_t pos, out_t *o, size_t *next) {
    const unsigned char *val[NFIELDS];
    size_t vlen[NFIELDS];
    int order[NFIELDS], seen = 0;
    for (int i = 0; i < NFIELDS; i++)
        val[i] = NULL;
    for (;;) {
        const unsigned char *eol = memchr(d + pos, '\n', end - pos);
        if (eol == NULL)
            return 0;
        size_t e = (size_t)(eol - d);
        if (e == pos) { /* the empty line that ends the entry */
            *next = pos + 1;
            break;
        }
        const unsigned char *eq = memchr(d + pos, '=', e - pos);
        const unsigned char *name = d + pos, *v;
        size_t nlen, n;
        if (eq != NULL) {
            nlen = (size_t)(eq - name);
            v = eq + 1;
            n = (size_t)(eol - v);
            pos = e + 1;
        } else {
            nlen = e - pos;
            if (end - (e + 1) < 8)
                return 0;
            uint64_t size = 0;
            for (int k = 7; k >= 0; k--)
                size = (size << 8) | d[e + 1 + (size_t)k];
            size_t start = e + 1 + 8;
            if (size > end - start || end - start - size < 1)
                return 0;
            v = d + start;
            n = (size_t)size;
            pos = start + n + 1;
        }
        int i = field_index(name, nlen);
        if (i >= 0) {
            if (val[i] == NULL)
                order[seen++] = i;
            val[i] = v;
            vlen[i] = n;
        }
    }
    if (seen) {
        putc_(o, '{');
        for (int k = 0; k < seen; k++) {
            int i = order[k];
            if (k)
                putc_(o, ',');
            putc_(o, '"');
            put(o, FIELDS[i], strlen(FIELDS[i]));
            put(o, "\":", 2);
            put_value(o, val[i], vlen[i]);
        }
        put(o, "}\n", 2);
    }
    return 1;
}

static PyObject *to_json_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*:to_json_lines", &view))
        return NULL;
    const unsigned char *d = view.buf;
    size_t end = (size_t)view.len, pos = 0, next;
    out_t o = {NULL, 0, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    /* Entries start where the previous one's empty line ended; as in the Python
     * twin, nothing is taken until a whole entry (up to its empty line) is here. */
    while (pos < end && entry(d, end, pos, &o, &next))
        pos = next;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (o.failed) {
        free(o.p);
        return PyErr_NoMemory();
    }
    PyObject *out = PyBytes_FromStringAndSize(o.p ? o.p : "", (Py_ssize_t)o.len);
    free(o.p);
    if (out == NULL)
        return NULL;
    return Py_BuildValue("(Nn)", out, (Py_ssize_t)pos);
}

static PyMethodDef methods[] = {
    {"to_json_lines", to_json_lines, METH_VARARGS,
     "to_json_lines(data) -> (bytes, int): whole export entries as JSON lines, and the"
     " bytes they took (journal_export.to_json_lines, without the GIL)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_journalexport",
    "Journal export entries to JSON lines without the GIL (see journal_export.py).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__journalexport(void) { return PyModule_Create(&module); }
