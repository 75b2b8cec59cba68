/* Our compact database's search tree, read in C: Tree.find (GeoDatabase.find's tree walk)
 * and Tree.reply, the C twin of gslb.dns.place_answers.reply: the path of a query from a
 * client network never seen before in one call (shape check, tree walk, two indexes, the
 * join). gslb.geo.tree builds it and says when it is off.
 *
 * Why C: in Python that path cost ~3 us a query (about a third of it the tree lookup
 * through maxminddb's reader, the rest a dozen interpreter operations); the issue asks
 * for <= 6 us per query all included, and the kernel and the UDP batch loop already take
 * ~3.8 us. Here it is ~0.4 us.
 *
 * What it may do is narrow on purpose: it only reads the replies and parses the Python
 * side learned (gslb.dns.place_answers.learn, gslb.dns.fastparse.learn_shape) and our
 * compact database's search tree, whose records are place numbers. Anything else (a
 * record that is not a small unsigned integer, a closed or short buffer, an address
 * longer than its family) returns NotImplemented, and the Python path answers. Every read of the query and of the tree is bounds-checked: the
 * query is attacker bytes, and the tree was verified at open but is read here again.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Networks located before, in buckets of 8 slots chosen by a hash of the address: a
 * network that asks again skips the walk's cache misses (the responder keeps no whole
 * reply for what Tree.reply answers). 2^18 slots (6 MB): the world mix's ~100k networks
 * hit 99.6% of the time (pairs of 2^16 slots thrashed: a repeat query cost 0.97 us,
 * pairs of 2^18 still missed 12.5%). A full bucket overwrites the slot a clock points
 * at. Fixed size, allocated on first use; valid for the tree's life (the database never
 * changes). */
#define MEMO_BITS 18
#define MEMO_WAYS 8 /* 8 x 24 bytes: three cache lines, aligned */
typedef struct {
    uint8_t version; /* 0: empty */
    uint8_t plen;
    int32_t place;
    uint8_t address[16];
} Memo;

typedef struct {
    PyObject_HEAD
    Memo *memo;            /* 1 << MEMO_BITS entries, NULL until used */
    unsigned clock;        /* the slot a full bucket gives up next */
    PyObject *owner;       /* the object whose buffer is the whole database (an mmap) */
    PyObject *special4;    /* bytes: special blocks' starts, ends (big-endian), prefix lengths */
    PyObject *special6;
    uint32_t node_count;
    int record_size;       /* bits per record: 24, 28 or 32 */
    Py_ssize_t tree_size;  /* bytes of the search tree: node_count * record_size / 4 */
    uint32_t records;      /* place records in the data section: record r is place r + 1 */
    uint32_t ipv4_start;   /* the node an IPv4 address starts from (::/96 in an IPv6 tree) */
    int ipv4_ok;           /* whether that node exists */
    int ip_version;        /* of the tree: 4 or 6 */
} Tree;

static inline uint32_t
record_of(const uint8_t *base, int record_size, uint32_t node, int right)
{
    const uint8_t *p;
    switch (record_size) {
    case 24:
        p = base + (size_t)node * 6 + (right ? 3 : 0);
        return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
    case 28:
        p = base + (size_t)node * 7;
        if (right)
            return ((uint32_t)(p[3] & 0x0F) << 24) | ((uint32_t)p[4] << 16)
                   | ((uint32_t)p[5] << 8) | p[6];
        return ((uint32_t)(p[3] & 0xF0) << 20) | ((uint32_t)p[0] << 16)
               | ((uint32_t)p[1] << 8) | p[2];
    default:
        p = base + (size_t)node * 8 + (right ? 4 : 0);
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    }
}

/* The prefix length of the special block holding `addr` (width bytes, big-endian), or -1
 * for none, found the way GeoDatabase.find finds it: the last block starting at or before
 * it, if it ends after. `table` holds the starts, then the ends, then one byte per length. */
static int
special_prefix(PyObject *table, const uint8_t *addr, Py_ssize_t width)
{
    const uint8_t *t = (const uint8_t *)PyBytes_AS_STRING(table);
    Py_ssize_t count = PyBytes_GET_SIZE(table) / (2 * width + 1);
    const uint8_t *ends = t + count * width, *plens = ends + count * width;
    Py_ssize_t lo = 0, hi = count; /* bisect_right over the starts */
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (memcmp(addr, t + mid * width, width) < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo > 0 && memcmp(addr, ends + (lo - 1) * width, width) <= 0)
        return plens[lo - 1];
    return -1;
}

/* The place of `addr` (0: no record or a special block) and the prefix length of its
 * network; -1 when only the Python path can say. `base`/`size` are the database's bytes. */
static long
find_place(Tree *tree, const uint8_t *base, Py_ssize_t size, int version, const uint8_t *addr,
           int *plen)
{
    int bits = version == 4 ? 32 : 128;
    int special = special_prefix(version == 4 ? tree->special4 : tree->special6, addr, bits / 8);
    if (special >= 0) {
        *plen = special;
        return 0;
    }
    uint32_t node;
    if (version == 4) {
        if (!tree->ipv4_ok)
            return -1;
        node = tree->ipv4_start;
    } else {
        if (tree->ip_version != 6)
            return -1;
        node = 0;
    }
    int depth = 0;
    for (; depth < bits && node < tree->node_count; depth++) {
        int bit = (addr[depth >> 3] >> (7 - (depth & 7))) & 1;
        node = record_of(base, tree->record_size, node, bit);
    }
    *plen = depth;
    if (node == tree->node_count)
        return 0; /* no record: nowhere */
    if (node < tree->node_count || node - tree->node_count < 16)
        return -1; /* a tree deeper than the address, or a record inside the separator */
    Py_ssize_t at = tree->tree_size + (Py_ssize_t)(node - tree->node_count);
    if (at >= size)
        return -1;
    uint8_t control = base[at];
    int type = control >> 5, length = control & 31;
    if (!((type == 5 && length <= 2) || (type == 6 && length <= 4)) || at + 1 + length > size)
        return -1; /* not a uint16/uint32 (a pointer, a map): the Python path decodes it */
    uint32_t value = 0;
    for (int i = 0; i < length; i++)
        value = (value << 8) | base[at + 1 + i];
    if (value >= tree->records)
        return -1;
    return (long)value + 1;
}

static inline uint64_t
load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* find_place, through the memo of networks located before. */
static long
locate(Tree *tree, const uint8_t *base, Py_ssize_t size, int version, const uint8_t *addr,
       int *plen)
{
    Py_ssize_t width = version == 4 ? 4 : 16;
    uint8_t key[16] = {0};
    memcpy(key, addr, width);
    uint64_t h = load64(key) * 0x9E3779B97F4A7C15ULL ^ load64(key + 8) * 0xC2B2AE3D27D4EB4FULL;
    Memo *slot = NULL;
    if (tree->memo == NULL) {
        void *memory = NULL;
        size_t size = ((size_t)1 << MEMO_BITS) * sizeof(Memo);
        if (posix_memalign(&memory, 64, size) == 0) {
            memset(memory, 0, size);
            tree->memo = memory;
        }
    }
    if (tree->memo != NULL) { /* no memory for it: walk every time */
        h ^= h >> 29;
        Memo *bucket = &tree->memo[(h >> (64 - MEMO_BITS)) & ~(uint64_t)(MEMO_WAYS - 1)];
        for (int k = 0; k < MEMO_WAYS; k++) {
            if (bucket[k].version == 0) {
                slot = &bucket[k]; /* slots fill in order: nothing after an empty one */
                break;
            }
            if (bucket[k].version == version && memcmp(bucket[k].address, key, 16) == 0) {
                *plen = bucket[k].plen;
                return bucket[k].place;
            }
        }
        if (slot == NULL)
            slot = &bucket[tree->clock++ % MEMO_WAYS];
    }
    long place = find_place(tree, base, size, version, key, plen);
    if (place >= 0 && slot != NULL) {
        slot->version = (uint8_t)version;
        slot->plen = (uint8_t)*plen;
        slot->place = (int32_t)place;
        memcpy(slot->address, key, 16);
    }
    return place;
}

/* ------------------------------------------------------------------------ Tree type */

static void
Tree_dealloc(Tree *self)
{
    free(self->memo);
    Py_XDECREF(self->owner);
    Py_XDECREF(self->special4);
    Py_XDECREF(self->special6);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Tree_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"owner",   "node_count", "record_size", "ip_version",
                             "records", "special4",   "special6",    NULL};
    PyObject *owner, *special4, *special6;
    unsigned long node_count, records;
    int record_size, ip_version;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OkiikSS", kwlist, &owner, &node_count,
                                     &record_size, &ip_version, &records, &special4,
                                     &special6))
        return NULL;
    if (record_size != 24 && record_size != 28 && record_size != 32) {
        PyErr_Format(PyExc_ValueError, "record size %d is not 24, 28 or 32", record_size);
        return NULL;
    }
    if (ip_version != 4 && ip_version != 6) {
        PyErr_Format(PyExc_ValueError, "ip_version %d is not 4 or 6", ip_version);
        return NULL;
    }
    if (node_count == 0 || node_count >= (1UL << 32) - 16 || records >= (1UL << 31)) {
        PyErr_SetString(PyExc_ValueError, "node or record count out of range");
        return NULL;
    }
    if (PyBytes_GET_SIZE(special4) % 9 || PyBytes_GET_SIZE(special6) % 33) {
        PyErr_SetString(PyExc_ValueError, "special blocks are not (start, end, length)");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(owner, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t tree_size = (Py_ssize_t)node_count * record_size / 4;
    if (view.len < tree_size + 16) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "buffer shorter than its search tree");
        return NULL;
    }
    Tree *self = (Tree *)type->tp_alloc(type, 0);
    if (self == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    self->node_count = (uint32_t)node_count;
    self->record_size = record_size;
    self->tree_size = tree_size;
    self->records = (uint32_t)records;
    self->ip_version = ip_version;
    uint32_t node = 0;
    int depth = 0;
    if (ip_version == 6)
        for (; depth < 96 && node < self->node_count; depth++)
            node = record_of(view.buf, record_size, node, 0);
    PyBuffer_Release(&view);
    self->ipv4_start = node;
    self->ipv4_ok = node < self->node_count;
    self->owner = Py_NewRef(owner);
    self->special4 = Py_NewRef(special4);
    self->special6 = Py_NewRef(special6);
    return (PyObject *)self;
}

static PyObject *
Tree_find(Tree *self, PyObject *args)
{
    int version;
    const char *packed;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "iy#", &version, &packed, &n))
        return NULL;
    if ((version != 4 && version != 6) || n != (version == 4 ? 4 : 16)) {
        PyErr_SetString(PyExc_ValueError, "an address is 4 bytes (IPv4) or 16 (IPv6)");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(self->owner, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    int plen = 0;
    long place = view.len < self->tree_size + 16
                     ? -1
                     : locate(self, view.buf, view.len, version, (const uint8_t *)packed,
                                  &plen);
    PyBuffer_Release(&view);
    if (place < 0)
        Py_RETURN_NOTIMPLEMENTED;
    return Py_BuildValue("(li)", place, plen);
}

/* ------------------------------------------------------------------------- reply() */

#define MAX_ADDRESS 16

/* Tree.reply(data, tails, placed): see place_answers.reply. */
static PyObject *
Tree_reply(Tree *tree, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "reply() takes 3 arguments");
        return NULL;
    }
    PyObject *data = args[0], *tails = args[1], *placed = args[2];
    if (!PyBytes_CheckExact(data) || !PyTuple_Check(tails) || !PyDict_Check(placed)) {
        PyErr_SetString(PyExc_TypeError, "reply(bytes, tuple, dict)");
        return NULL;
    }
    const uint8_t *d = (const uint8_t *)PyBytes_AS_STRING(data);
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    for (Py_ssize_t t = 0; t < PyTuple_GET_SIZE(tails); t++) {
        Py_ssize_t n = PyLong_AsSsize_t(PyTuple_GET_ITEM(tails, t));
        if (n == -1 && PyErr_Occurred())
            return NULL;
        if (n <= 0 || n > MAX_ADDRESS || len < n + 2)
            continue;
        /* Only a query ending in an ECS option with n address bytes can match: option
         * code 8, length 4 + n, a source prefix of n bytes. Checked before any object
         * is made, so a query of another tail or none costs a few compares. */
        if (len < n + 12 || d[len - n - 8] != 0 || d[len - n - 7] != 8
            || d[len - n - 6] != 0 || d[len - n - 5] != 4 + n
            || (d[len - n - 2] + 7) / 8 != n)
            continue;
        /* The bytes but ID and address: the key of the replies learned for that shape
         * (equal keys end in equal option lengths, so the same n: the same length) */
        PyObject *prefix = PyBytes_FromStringAndSize((const char *)d + 2, len - 2 - n);
        if (prefix == NULL)
            return NULL;
        PyObject *entry = PyDict_GetItemWithError(placed, prefix); /* borrowed */
        Py_DECREF(prefix);
        if (entry == NULL) {
            if (PyErr_Occurred())
                return NULL;
            continue;
        }
        int source = d[len - n - 2];
        if ((source & 7) && (d[len - 1] & (0xFF >> (source & 7))))
            Py_RETURN_NONE; /* bits past the source prefix: RFC 7871 6 */
        /* entry: PlacedShape(by_place, row, version, shift) */
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 4
            || !PyDict_Check(PyTuple_GET_ITEM(entry, 1))) {
            PyErr_SetString(PyExc_TypeError, "a placed shape is (by_place, row, version, shift)");
            return NULL;
        }
        long version = PyLong_AsLong(PyTuple_GET_ITEM(entry, 2));
        if (version == -1 && PyErr_Occurred())
            return NULL;
        Py_ssize_t width = version == 4 ? 4 : 16;
        if ((version != 4 && version != 6) || n > width)
            Py_RETURN_NOTIMPLEMENTED;
        uint8_t address[MAX_ADDRESS] = {0}; /* the client address, zero past the source */
        memcpy(address, d + len - n, n);
        Py_buffer db;
        if (PyObject_GetBuffer(tree->owner, &db, PyBUF_SIMPLE) < 0) {
            PyErr_Clear(); /* closed under us (a reload): the Python path knows better */
            Py_RETURN_NOTIMPLEMENTED;
        }
        int plen = 0;
        long place = db.len < tree->tree_size + 16
                         ? -1
                         : locate(tree, db.buf, db.len, (int)version, address, &plen);
        PyBuffer_Release(&db);
        if (place < 0)
            Py_RETURN_NOTIMPLEMENTED;
        Py_buffer table;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(entry, 0), &table, PyBUF_FORMAT) < 0)
            return NULL;
        if (table.itemsize != sizeof(int) || table.format == NULL || strcmp(table.format, "i")) {
            PyBuffer_Release(&table);
            PyErr_SetString(PyExc_TypeError, "by_place is an array('i')");
            return NULL;
        }
        Py_ssize_t places = table.len / (Py_ssize_t)sizeof(int);
        if (place >= places) {
            PyBuffer_Release(&table);
            Py_RETURN_NONE;
        }
        int choice = ((const int *)table.buf)[place];
        PyBuffer_Release(&table);
        PyObject *key = PyLong_FromLong(choice);
        if (key == NULL)
            return NULL;
        PyObject *hit = PyDict_GetItemWithError(PyTuple_GET_ITEM(entry, 1), key); /* borrowed */
        Py_DECREF(key);
        if (hit == NULL) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
        if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 2
            || !PyBytes_Check(PyTuple_GET_ITEM(hit, 0))) {
            PyErr_SetString(PyExc_TypeError, "a placed reply is (bytes, label)");
            return NULL;
        }
        PyObject *middle = PyTuple_GET_ITEM(hit, 0);
        Py_ssize_t size = PyBytes_GET_SIZE(middle);
        PyObject *out = PyBytes_FromStringAndSize(NULL, 2 + size + 1 + n);
        if (out == NULL)
            return NULL;
        uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
        o[0] = d[0];
        o[1] = d[1];
        memcpy(o + 2, PyBytes_AS_STRING(middle), size);
        o[2 + size] = (uint8_t)(plen > source ? plen : source);
        memcpy(o + 3 + size, d + len - n, n);
        PyObject *result = PyTuple_Pack(2, out, PyTuple_GET_ITEM(hit, 1));
        Py_DECREF(out);
        return result;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Tree_methods[] = {
    {"find", (PyCFunction)Tree_find, METH_VARARGS,
     "find(version, packed) -> (place, prefix length), or NotImplemented: the Python "
     "path must say (special block, not a place record)."},
    {"reply", (PyCFunction)(void (*)(void))Tree_reply, METH_FASTCALL,
     "reply(data, tails, placed) -> (reply, label), None, or NotImplemented (the "
     "Python path must answer): gslb.dns.place_answers.reply in one call."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TreeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gslb.geo._tree.Tree",
    .tp_basicsize = sizeof(Tree),
    .tp_dealloc = (destructor)Tree_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The search tree of a compact geo database whose records are place numbers.",
    .tp_methods = Tree_methods,
    .tp_new = Tree_new,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gslb.geo._tree",
    .m_doc = "The C twin of gslb.dns.place_answers.reply (see that module).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__tree(void)
{
    if (PyType_Ready(&TreeType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Tree", (PyObject *)&TreeType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
