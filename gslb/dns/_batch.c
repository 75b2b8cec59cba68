/* One received UDP batch answered into the send batch: the inner loop of
 * gslb.dns.udpbatch in C. gslb.dns.udpbatch loads it and says when it is off.
 *
 * Why C: with recvmmsg/sendmmsg answering ~45 datagrams per call, the Python loop around
 * each datagram (slice, peer, call, copy into the reply slot, three header fields) was
 * about a third of the server's CPU per query, more than the answer itself when the
 * C place path (gslb/geo/_tree.c) or a kept whole reply answers. Here it is the answer.
 *
 * It decides nothing: per datagram it asks, in the responder's own order, the C place
 * path (Tree.reply, when the responder offers it), then the whole-reply dicts (the ID is
 * the client's, the rest is kept bytes), then Python's `slow(i, data)` for anything else.
 * Every reply goes through `limit(i, reply)` when response rate limiting is on. The
 * buffers are the ctypes arrays udpbatch made once; their sizes are checked here. A
 * failure costs one datagram (reported through sys.unraisablehook), never the batch.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static PyObject *one; /* the int 1 */

/* counts[label] += 1; counts is a list of ints (gslb.dns.counters.Counts). */
static int
count(PyObject *counts, PyObject *label)
{
    Py_ssize_t at = PyLong_AsSsize_t(label);
    if (at == -1 && PyErr_Occurred())
        return -1;
    if (at < 0 || at >= PyList_GET_SIZE(counts)) {
        PyErr_SetString(PyExc_IndexError, "counter label out of range");
        return -1;
    }
    PyObject *old = PyList_GET_ITEM(counts, at);
    PyObject *new = PyNumber_Add(old, one);
    if (new == NULL)
        return -1;
    PyList_SET_ITEM(counts, at, new);
    Py_DECREF(old);
    return 0;
}

/* The reply the C paths give for `data`, a new reference, or NULL with no error set when
 * Python must answer (NULL with an error set: a failure). */
static PyObject *
fast_reply(PyObject *data, PyObject *path, PyObject *counts)
{
    /* path: (place_reply or None, tails, placed, wholes) from Responder.batch_path */
    PyObject *place = PyTuple_GET_ITEM(path, 0);
    if (place != Py_None) {
        PyObject *args[3] = {data, PyTuple_GET_ITEM(path, 1), PyTuple_GET_ITEM(path, 2)};
        PyObject *got = PyObject_Vectorcall(place, args, 3, NULL);
        if (got == NULL)
            return NULL;
        if (PyTuple_Check(got) && PyTuple_GET_SIZE(got) == 2) {
            PyObject *reply = PyTuple_GET_ITEM(got, 0);
            if (count(counts, PyTuple_GET_ITEM(got, 1)) < 0) {
                Py_DECREF(got);
                return NULL;
            }
            Py_INCREF(reply);
            Py_DECREF(got);
            return reply;
        }
        Py_DECREF(got); /* None or NotImplemented: not the place path's */
    }
    PyObject *wholes = PyTuple_GET_ITEM(path, 3);
    if (PyTuple_GET_SIZE(wholes) == 0)
        return NULL;
    const char *d = PyBytes_AS_STRING(data);
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    if (len < 12)
        return NULL;
    PyObject *key = PyBytes_FromStringAndSize(d + 2, len - 2);
    if (key == NULL)
        return NULL;
    PyObject *whole = NULL; /* borrowed: (bytes after the ID, label) */
    for (Py_ssize_t w = 0; w < PyTuple_GET_SIZE(wholes) && whole == NULL; w++) {
        PyObject *dict = PyTuple_GET_ITEM(wholes, w);
        if (!PyDict_Check(dict))
            continue;
        whole = PyDict_GetItemWithError(dict, key);
        if (whole == NULL && PyErr_Occurred()) {
            Py_DECREF(key);
            return NULL;
        }
    }
    Py_DECREF(key);
    if (whole == NULL)
        return NULL;
    if (!PyTuple_Check(whole) || PyTuple_GET_SIZE(whole) != 2
        || !PyBytes_Check(PyTuple_GET_ITEM(whole, 0))) {
        PyErr_SetString(PyExc_TypeError, "a whole reply is (bytes, label)");
        return NULL;
    }
    PyObject *rest = PyTuple_GET_ITEM(whole, 0);
    Py_ssize_t size = PyBytes_GET_SIZE(rest);
    PyObject *reply = PyBytes_FromStringAndSize(NULL, 2 + size);
    if (reply == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(reply);
    o[0] = d[0];
    o[1] = d[1];
    memcpy(o + 2, PyBytes_AS_STRING(rest), size);
    if (count(counts, PyTuple_GET_ITEM(whole, 1)) < 0) {
        Py_DECREF(reply);
        return NULL;
    }
    return reply;
}

/* answer(rhdrs, shdrs, n, out, path, counts, slow, limit, keep) -> replies to send */
static PyObject *
answer(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "answer() takes 9 arguments");
        return NULL;
    }
    Py_ssize_t n = PyLong_AsSsize_t(args[2]);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    PyObject *path = args[4], *counts = args[5], *slow = args[6], *limit = args[7];
    PyObject *keep = args[8];
    if (!PyTuple_Check(path) || PyTuple_GET_SIZE(path) != 4
        || !PyTuple_Check(PyTuple_GET_ITEM(path, 3)) || !PyList_Check(counts)
        || !PyCallable_Check(slow) || (limit != Py_None && !PyCallable_Check(limit))
        || !PyList_Check(keep)) {
        PyErr_SetString(PyExc_TypeError,
                        "answer(rhdrs, shdrs, n, out, (place, tails, placed, wholes), list, "
                        "slow, limit or None, list)");
        return NULL;
    }
    Py_buffer rb, sb, ob;
    if (PyObject_GetBuffer(args[0], &rb, PyBUF_WRITABLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &sb, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&rb);
        return NULL;
    }
    if (PyObject_GetBuffer(args[3], &ob, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&rb);
        PyBuffer_Release(&sb);
        return NULL;
    }
    Py_ssize_t slots = sb.len / (Py_ssize_t)sizeof(struct mmsghdr);
    Py_ssize_t slot = slots ? ob.len / slots : 0;
    struct mmsghdr *r = rb.buf, *s = sb.buf;
    char *out = ob.buf;
    Py_ssize_t sent = 0;
    if (n < 0 || n > slots || (size_t)rb.len < (size_t)n * sizeof(struct mmsghdr)) {
        PyErr_SetString(PyExc_ValueError, "more datagrams than slots");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned size = r[i].msg_len; /* with MSG_TRUNC: the datagram's real size */
        struct iovec *in = r[i].msg_hdr.msg_iov;
        struct iovec *to = s[sent].msg_hdr.msg_iov;
        if (in == NULL || to == NULL || size == 0 || size > in->iov_len)
            continue; /* empty, or cut to the slot: never a real query */
        PyObject *data = PyBytes_FromStringAndSize(in->iov_base, size);
        if (data == NULL) {
            PyErr_WriteUnraisable(module);
            continue;
        }
        PyObject *reply = fast_reply(data, path, counts);
        if (reply == NULL && PyErr_Occurred())
            PyErr_WriteUnraisable(module); /* reported; Python may still answer */
        if (reply == NULL) {
            PyObject *call[2] = {PyLong_FromSsize_t(i), data};
            if (call[0] != NULL) {
                reply = PyObject_Vectorcall(slow, call, 2, NULL);
                Py_DECREF(call[0]);
            }
        }
        Py_DECREF(data);
        if (reply != NULL && reply != Py_None && limit != Py_None) {
            PyObject *call[2] = {PyLong_FromSsize_t(i), reply};
            PyObject *limited = call[0] == NULL ? NULL : PyObject_Vectorcall(limit, call, 2, NULL);
            Py_XDECREF(call[0]);
            Py_DECREF(reply);
            reply = limited;
        }
        if (reply == NULL) {
            PyErr_WriteUnraisable(module); /* a bug costs this datagram, never the batch */
            continue;
        }
        if (!PyBytes_Check(reply)) { /* None: dropped */
            Py_DECREF(reply);
            continue;
        }
        Py_ssize_t length = PyBytes_GET_SIZE(reply);
        if (length <= slot) {
            memcpy(out + sent * slot, PyBytes_AS_STRING(reply), length);
            to->iov_base = out + sent * slot;
        } else { /* bigger than a slot: sent from its own bytes, kept alive until sent */
            if (PyList_Append(keep, reply) < 0) {
                Py_DECREF(reply);
                PyErr_WriteUnraisable(module);
                continue;
            }
            to->iov_base = PyBytes_AS_STRING(reply);
        }
        Py_DECREF(reply);
        to->iov_len = length;
        s[sent].msg_hdr.msg_name = r[i].msg_hdr.msg_name;
        sent++;
    }
done:
    PyBuffer_Release(&rb);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&ob);
    if (PyErr_Occurred())
        return NULL;
    return PyLong_FromSsize_t(sent);
}

static PyMethodDef methods[] = {
    {"answer", (PyCFunction)(void (*)(void))answer, METH_FASTCALL,
     "answer(rhdrs, shdrs, n, out, path, counts, slow, limit, keep) -> replies to send: "
     "the n datagrams received in rhdrs, answered into shdrs and out."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gslb.dns._batch",
    .m_doc = "The inner loop of gslb.dns.udpbatch (see that module).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__batch(void)
{
    one = PyLong_FromLong(1);
    if (one == NULL)
        return NULL;
    return PyModule_Create(&module_def);
}
