/* acto_error.h - the one table of acto error codes.
 *
 * Every public call returns 0 (or a non-negative count) on success and a
 * negative ACTO_E* code on failure.  The enum, acto_strerror() and
 * acto_err_name() are all generated from the single X-macro list below, so
 * a code cannot exist without its message.
 */
#ifndef ACTO_ERROR_H
#define ACTO_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ACTO_BUILDING) && defined(__GNUC__)
#define ACTO_API __attribute__((visibility("default")))
#else
#define ACTO_API
#endif

/* X(name, value, message) */
#define ACTO_ERRNO_MAP(X)                                                      \
  X(EINVAL, -1, "invalid argument")                                            \
  X(ENOMEM, -2, "out of memory")                                               \
  X(EFULL, -3, "mailbox is full")                                              \
  X(ECLOSED, -4, "mailbox is closed: the actor has stopped")                   \
  X(ESTALE, -5, "stale or unknown actor reference")                            \
  X(ETIMEDOUT, -6, "deadline expired")                                         \
  X(EEXIST, -7, "name or child id already exists")                             \
  X(ENOENT, -8, "no such name or entry")                                       \
  X(ESHUTDOWN, -9, "the system is shutting down")                              \
  X(ETOOBIG, -10, "message larger than the mailbox byte budget")               \
  X(EWRONGTHREAD, -11, "call made from a thread where it is not allowed")      \
  X(ENOTREQUEST, -12, "the current message is not a request")                  \
  X(EALREADY, -13, "already done (replied, cancelled or stopped)")             \
  X(EINIT, -14, "the behaviour's init callback failed")                        \
  X(EFAILED, -15, "the actor failed")                                          \
  X(ELIMIT, -16, "a configured limit was reached")                             \
  X(EDEADLK, -17, "the call would block a worker thread")                      \
  X(EIO, -18, "input/output error (see errno)")                               \
  X(EMAXRESTARTS, -19, "restart intensity exceeded: the supervisor gave up")   \
  X(ECHILD, -20, "a child could not be started")                              \
  X(EPROTO, -21, "malformed frame or message from a peer")                    \
  X(ENOTCONN, -22, "no connection to the node (unknown, unreachable or down)") \
  X(EAUTH, -23, "node authentication failed (wrong key or node name)")         \
  X(ENOREPLY, -24, "the request was handled without a reply")                 \
  X(ECANCELED, -25, "cancelled: the asking actor stopped first")             \
  X(EKEYPERM, -26, "key file is a link, not a regular file, or not private to this user") \
  X(EKEYFORMAT, -27, "key file content is not 64 to 128 hex digits")           \
  X(EIGNORED, -28, "init answered ACTO_INIT_IGNORE: no actor was started")      \
  X(ERUNNING, -29, "the child is running, restarting or stopping")

typedef enum acto_errno {
  ACTO_OK = 0,
#define ACTO_ERRNO_ENUM_(name, val, msg) ACTO_##name = (val),
  ACTO_ERRNO_MAP(ACTO_ERRNO_ENUM_)
#undef ACTO_ERRNO_ENUM_
  ACTO_ERRNO_MIN = -30
} acto_errno;

/* A readable message for any value (unknown values get a generic text).
 * Thread-safe; the returned string is static. */
ACTO_API const char *acto_strerror(int err);

/* The symbolic name ("ACTO_EFULL"); thread-safe; static string. */
ACTO_API const char *acto_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif /* ACTO_ERROR_H */
