/*
 * server.c — the HTTP side of `twkit export`, on libmicrohttpd.
 *
 * Routes: GET|HEAD /metrics (text 0.0.4, or OpenMetrics when the Accept
 * header ranks it first), / (a page that links to it), /-/healthy.  Any
 * other method gets 405, any other path 404, a request with a body 400.
 * With basic_auth_users every path needs a user (401 otherwise, the same
 * for an unknown user and a wrong password).
 *
 * One collection serves many scrapes.  A scrape that finds a page younger
 * than --min-interval gets it at once; otherwise it is suspended
 * (MHD_suspend_connection) and waits for the next page: if a collection
 * is running it waits for that one (concurrent scrapes share the dump in
 * progress), if not it wakes the collector.  The collector — the main
 * thread, see cmd_export.c — publishes each page as two shared
 * MHD_Response objects (one per format) and resumes every waiting
 * connection.  No polling thread ever blocks on a dump, so health checks
 * and other connections are served while one runs.
 *
 * Limits: --max-connections and --max-connections-per-ip (libmicrohttpd
 * refuses the rest), 16 KiB of memory per connection, request headers of
 * at most 8 KiB (larger: 431, see header_bytes), and the request deadline: a
 * connection must deliver a whole request header within --idle-timeout of
 * opening (TLS handshake included) or of its last response.  libmicrohttpd's
 * own timeout restarts at every byte, which a slow-loris client defeats;
 * the deadline does not: a watchdog thread shuts down the socket of every
 * connection past it (the socket is still libmicrohttpd's: it is closed
 * only after the close notification, which takes the same lock).
 */
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "export.h"
#include "tool.h"
#include "twx/clock.h"

#define MEM_LIMIT (16u << 10)
#define HEADER_LIMIT (8u << 10) /* request line and header fields; larger: 431 */
#define POLL_THREADS 2
#define WATCH_MS 200

enum { FIX_ROOT, FIX_HEALTHY, FIX_405, FIX_404, FIX_431, N_FIX };

/* One published page: two responses shared by every scrape that takes it. */
struct page {
    int refs;                       /* under srv->mu */
    uint64_t done_ns;               /* monotonic */
    struct MHD_Response *resp[2];   /* METRIC_TEXT, METRIC_OPENMETRICS */
};

/* A connection, for the request deadline. */
struct conn {
    struct conn *prev, *next;
    int fd;
    bool busy;                      /* a request is being answered */
    bool shut;                      /* the watchdog shut it down */
    uint64_t deadline_ms;
};

struct waiter {
    struct waiter *next;
    struct MHD_Connection *mc;
};

/*
 * Per-request state.  libmicrohttpd 0.9.75 closes the connection after a
 * response queued in the first call of a request (it cannot know the body
 * was read), so the first call only decides and the second one answers;
 * refusals that should close (405, a body) are queued at once.
 */
enum route { R_METRICS, R_ROOT, R_HEALTHY, R_NOT_FOUND, R_UNAUTHORIZED };

struct req {
    enum route route;
    enum metric_format fmt;
    bool waiting;                   /* suspended until the next page */
};

struct exp_server {
    struct exp_server_opts o;
    struct MHD_Daemon *d;
    char url[128];
    struct MHD_Response *fixed[N_FIX]; /* FIX_*: the answers that never change */

    pthread_mutex_t mu;             /* the page, the generation, the waiters */
    struct page *page;              /* the newest page, NULL before the first */
    bool busy;                      /* a collection runs */
    bool want;                      /* a scrape waits for a new collection */
    struct waiter *waiters;
    int efd;                        /* wakes the collector */

    pthread_mutex_t cmu;            /* the connections */
    struct conn *conns;
    pthread_t watchdog;
    bool wd_stop;                   /* under cmu: the watchdog ends */
    bool stopping;                  /* under mu: no more waiting scrapes */
    uint64_t idle_ms;
};

static int g_unused;
static void *const SEEN = &g_unused; /* *req_cls of a request already answered in call 1 */

const char *exp_server_url(const struct exp_server *s)
{
    return s->url;
}

/* ---- connections and the request deadline ----------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *mc, void **sock_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    struct exp_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn *c = calloc(1, sizeof(*c));
        if (!c || !ci) {
            free(c);
            *sock_ctx = NULL;
            return;
        }
        c->fd = ci->connect_fd;
        c->deadline_ms = twx_now_ms() + s->idle_ms;
        pthread_mutex_lock(&s->cmu);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->cmu);
        *sock_ctx = c;
        return;
    }
    struct conn *c = *sock_ctx;
    if (!c)
        return;
    pthread_mutex_lock(&s->cmu); /* after this the watchdog never touches c->fd */
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->cmu);
    free(c);
    *sock_ctx = NULL;
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void conn_busy(struct exp_server *s, struct MHD_Connection *mc, bool busy)
{
    struct conn *c = conn_of(mc);
    if (!c)
        return;
    pthread_mutex_lock(&s->cmu);
    c->busy = busy;
    c->deadline_ms = twx_now_ms() + s->idle_ms;
    pthread_mutex_unlock(&s->cmu);
}

static void *watchdog(void *arg)
{
    struct exp_server *s = arg;
    for (;;) {
        twx_sleep_ns((uint64_t)WATCH_MS * 1000000);
        uint64_t now = twx_now_ms();
        pthread_mutex_lock(&s->cmu);
        if (s->wd_stop) {
            pthread_mutex_unlock(&s->cmu);
            return NULL;
        }
        for (struct conn *c = s->conns; c; c = c->next)
            if (!c->busy && !c->shut && now > c->deadline_ms) {
                shutdown(c->fd, SHUT_RDWR); /* libmicrohttpd sees the end and closes it */
                c->shut = true;
            }
        pthread_mutex_unlock(&s->cmu);
    }
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct exp_server *s = cls;
    (void)toe;
    if (*req_cls && *req_cls != SEEN)
        free(*req_cls);
    *req_cls = NULL;
    conn_busy(s, mc, false);
}

/* ---- responses ----------------------------------------------------------------------- */

static struct MHD_Response *text_response(const struct exp_server *s, const char *body,
                                          const char *ctype)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r)
        return NULL;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    for (size_t i = 0; s->o.web && i < s->o.web->n_headers; i++)
        MHD_add_response_header(r, s->o.web->headers[i].name, s->o.web->headers[i].value);
    return r;
}

static const char root_html[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>twkit export</title></head>\n"
    "<body><h1>twkit export</h1>\n"
    "<p>TIME_WAIT and ephemeral-port pressure per destination, for Prometheus.</p>\n"
    "<p><a href=\"/metrics\">Metrics</a> &middot; <a href=\"/-/healthy\">Health</a></p>\n"
    "<p>twkit " TW_VERSION "</p></body></html>\n";

static enum MHD_Result queue_fixed(struct exp_server *s, struct MHD_Connection *mc, int which)
{
    static const unsigned codes[] = {MHD_HTTP_OK, MHD_HTTP_OK, MHD_HTTP_METHOD_NOT_ALLOWED,
                                     MHD_HTTP_NOT_FOUND,
                                     MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE};
    return MHD_queue_response(mc, codes[which], s->fixed[which]);
}

static enum MHD_Result queue_plain(struct exp_server *s, struct MHD_Connection *mc,
                                   unsigned code, const char *body)
{
    struct MHD_Response *r = text_response(s, body, "text/plain; charset=utf-8");
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(mc, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result add_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " CRLF */
    return MHD_YES;
}

/*
 * The request's size as sent, near enough: its line and header fields.
 * libmicrohttpd itself refuses only what does not fit the connection's
 * 16 KiB, and a request just under that leaves it no room for any answer
 * (it closes without one), so twkit draws the line at HEADER_LIMIT.
 */
static size_t header_bytes(struct MHD_Connection *mc, const char *method, const char *url)
{
    size_t n = strlen(method) + strlen(url) + 12;
    MHD_get_connection_values(mc, MHD_HEADER_KIND, add_field, &n);
    MHD_get_connection_values(mc, MHD_GET_ARGUMENT_KIND, add_field, &n);
    return n;
}

static bool authorized(struct exp_server *s, struct MHD_Connection *mc)
{
    if (!s->o.web || !s->o.web->n_users)
        return true;
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(mc, &pass);
    bool ok = user && pass && exp_webcfg_auth(s->o.web, user, pass);
    if (user)
        MHD_free(user);
    if (pass)
        MHD_free(pass);
    return ok;
}

static void page_unref(struct exp_server *s, struct page *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&s->mu);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last)
        return;
    for (int i = 0; i < 2; i++)
        if (p->resp[i])
            MHD_destroy_response(p->resp[i]);
    free(p);
}

static enum MHD_Result serve_page(struct exp_server *s, struct MHD_Connection *mc, struct page *p,
                                  enum metric_format fmt)
{
    enum MHD_Result r = p && p->resp[fmt] ? MHD_queue_response(mc, MHD_HTTP_OK, p->resp[fmt])
                                          : queue_plain(s, mc, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                                        "no metrics page\n");
    page_unref(s, p);
    return r;
}

/* A scrape: the page if it is fresh enough, else wait for the next one. */
static enum MHD_Result scrape(struct exp_server *s, struct MHD_Connection *mc, struct req *rq)
{
    uint64_t now = twx_now_ns();
    pthread_mutex_lock(&s->mu);
    struct page *p = s->page;
    if (p && !s->busy && (double)(now - p->done_ns) / 1e9 < s->o.min_interval) {
        p->refs++;
        pthread_mutex_unlock(&s->mu);
        return serve_page(s, mc, p, rq->fmt);
    }
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w || s->stopping) {
        pthread_mutex_unlock(&s->mu);
        free(w);
        return queue_plain(s, mc, MHD_HTTP_SERVICE_UNAVAILABLE, "twkit export is stopping\n");
    }
    if (!s->busy && !s->want) {
        s->want = true;
        uint64_t one = 1;
        if (write(s->efd, &one, sizeof(one)) < 0) {
            /* the counter is already set: the collector wakes anyway */
        }
    }
    w->mc = mc;
    w->next = s->waiters;
    s->waiters = w;
    rq->waiting = true;
    MHD_suspend_connection(mc); /* under mu: the collector resumes only after this */
    pthread_mutex_unlock(&s->mu);
    return MHD_YES;
}

static enum MHD_Result answer(struct exp_server *s, struct MHD_Connection *mc, struct req *rq)
{
    switch (rq->route) {
    case R_METRICS:
        return scrape(s, mc, rq);
    case R_ROOT:
        return queue_fixed(s, mc, FIX_ROOT);
    case R_HEALTHY:
        return queue_fixed(s, mc, FIX_HEALTHY);
    case R_NOT_FOUND:
        return queue_fixed(s, mc, FIX_404);
    case R_UNAUTHORIZED:
        break;
    }
    struct MHD_Response *r = text_response(s, "401 Unauthorized\n", "text/plain; charset=utf-8");
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_basic_auth_fail_response(mc, "twkit export", r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *mc, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    struct exp_server *s = cls;
    struct req *rq = *req_cls;
    (void)version, (void)upload;
    if (rq == SEEN || *upload_size) { /* a body: refused already, drop it */
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq) {
        if (!rq->waiting)
            return answer(s, mc, rq);
        pthread_mutex_lock(&s->mu); /* resumed: the page it waited for is out */
        struct page *p = s->page;
        if (p)
            p->refs++;
        pthread_mutex_unlock(&s->mu);
        return serve_page(s, mc, p, rq->fmt);
    }
    conn_busy(s, mc, true);
    *req_cls = SEEN;
    if (header_bytes(mc, method, url) > HEADER_LIMIT)
        return queue_fixed(s, mc, FIX_431);
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return queue_fixed(s, mc, FIX_405);
    const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if ((cl && strcmp(cl, "0")) ||
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return queue_plain(s, mc, MHD_HTTP_BAD_REQUEST, "GET and HEAD take no body\n");
    if (!(rq = calloc(1, sizeof(*rq))))
        return MHD_NO;
    *req_cls = rq;
    if (!authorized(s, mc))
        rq->route = R_UNAUTHORIZED;
    else if (!strcmp(url, "/metrics"))
        rq->route = R_METRICS;
    else if (!strcmp(url, "/"))
        rq->route = R_ROOT;
    else if (!strcmp(url, "/-/healthy"))
        rq->route = R_HEALTHY;
    else
        rq->route = R_NOT_FOUND;
    rq->fmt = metrics_negotiate(
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    return MHD_YES;
}

/* ---- the collector's side ------------------------------------------------------------- */

int exp_server_wait(struct exp_server *s, int sigfd)
{
    struct pollfd pf[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = s->efd, .events = POLLIN}};
    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        if (pf[0].revents)
            return 0;
        uint64_t v;
        if (read(s->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            return 0;
        pthread_mutex_lock(&s->mu);
        bool go = s->want;
        if (go) {
            s->want = false;
            s->busy = true;
        }
        pthread_mutex_unlock(&s->mu);
        if (go)
            return 1;
    }
}

static struct MHD_Response *page_response(const struct exp_server *s, char *body, size_t len,
                                          const char *ctype)
{
    if (!body)
        return NULL;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    for (size_t i = 0; s->o.web && i < s->o.web->n_headers; i++)
        MHD_add_response_header(r, s->o.web->headers[i].name, s->o.web->headers[i].value);
    return r;
}

void exp_server_publish(struct exp_server *s, struct exp_output *out)
{
    struct page *p = calloc(1, sizeof(*p));
    if (p) {
        p->refs = 1;
        p->done_ns = twx_now_ns();
        p->resp[METRIC_TEXT] = page_response(s, out->body[METRIC_TEXT], out->len[METRIC_TEXT],
                                             METRIC_TEXT_CTYPE);
        p->resp[METRIC_OPENMETRICS] = page_response(s, out->body[METRIC_OPENMETRICS],
                                                    out->len[METRIC_OPENMETRICS], METRIC_OM_CTYPE);
    } else {
        free(out->body[0]);
        free(out->body[1]);
    }
    out->body[0] = out->body[1] = NULL; /* the responses own them now */
    pthread_mutex_lock(&s->mu);
    struct page *old = s->page;
    s->page = p;
    s->busy = false;
    s->want = false; /* every scrape that asked for a page gets this one */
    struct waiter *w = s->waiters;
    s->waiters = NULL;
    pthread_mutex_unlock(&s->mu);
    while (w) {
        struct waiter *next = w->next;
        MHD_resume_connection(w->mc);
        free(w);
        w = next;
    }
    page_unref(s, old);
}

/* ---- start and stop -------------------------------------------------------------------- */

int exp_server_start(const struct exp_server_opts *o, struct exp_server **out)
{
    struct exp_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->o = *o;
    s->idle_ms = (uint64_t)(o->idle_timeout * 1000);
    s->busy = true; /* the first collection runs as soon as the server is up */
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int fd = s->efd < 0 ? -1 : exp_listen(o->listen, o->web && o->web->cert_pem, s->url, sizeof(s->url));
    if (fd < 0)
        goto fail;
    s->fixed[FIX_ROOT] = text_response(s, root_html, "text/html; charset=utf-8");
    s->fixed[FIX_HEALTHY] = text_response(s, "twkit export is healthy\n", "text/plain; charset=utf-8");
    s->fixed[FIX_405] = text_response(s, "405 only GET and HEAD\n", "text/plain; charset=utf-8");
    s->fixed[FIX_404] = text_response(s, "404 not found: try /metrics\n", "text/plain; charset=utf-8");
    s->fixed[FIX_431] = text_response(s, "431 the request's header is larger than 8 KiB\n",
                                      "text/plain; charset=utf-8");
    for (int i = 0; i < N_FIX; i++)
        if (!s->fixed[i])
            goto fail_fd;
    MHD_add_response_header(s->fixed[FIX_405], MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    MHD_add_response_header(s->fixed[FIX_405], MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_add_response_header(s->fixed[FIX_431], MHD_HTTP_HEADER_CONNECTION, "close");
    if (pthread_create(&s->watchdog, NULL, watchdog, s))
        goto fail_fd;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    const struct exp_webcfg *w = o->web;
    bool tls = w && w->cert_pem;
    if (tls)
        flags |= MHD_USE_TLS;
    unsigned timeout = (unsigned)(o->idle_timeout + 0.999);
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, s, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POLL_THREADS, MHD_OPTION_CONNECTION_LIMIT,
        o->max_conn, MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)MEM_LIMIT, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, tls ? w->key_pem : NULL,
        MHD_OPTION_HTTPS_MEM_CERT, tls ? w->cert_pem : NULL, MHD_OPTION_HTTPS_PRIORITIES,
        tls ? w->priorities : NULL, MHD_OPTION_END);
    if (!s->d) {
        twx_err("cannot start the HTTP server on %s%s", o->listen,
                tls ? " (check the TLS settings of --web-config)" : "");
        goto fail_watch;
    }
    *out = s;
    return 0;
fail_watch:
    pthread_mutex_lock(&s->cmu);
    s->wd_stop = true;
    pthread_mutex_unlock(&s->cmu);
    pthread_join(s->watchdog, NULL);
fail_fd:
    close(fd);
fail:
    for (int i = 0; i < N_FIX; i++)
        if (s->fixed[i])
            MHD_destroy_response(s->fixed[i]);
    if (s->efd >= 0)
        close(s->efd);
    free(s);
    return -1;
}

void exp_server_stop(struct exp_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    struct waiter *w = s->waiters;
    s->waiters = NULL;
    pthread_mutex_unlock(&s->mu);
    while (w) { /* answer them (with the last page) before the end */
        struct waiter *next = w->next;
        MHD_resume_connection(w->mc);
        free(w);
        w = next;
    }
    int fd = MHD_quiesce_daemon(s->d);
    MHD_stop_daemon(s->d);
    if (fd >= 0)
        close(fd);
    pthread_mutex_lock(&s->cmu);
    s->wd_stop = true;
    pthread_mutex_unlock(&s->cmu);
    pthread_join(s->watchdog, NULL);
    page_unref(s, s->page);
    for (int i = 0; i < N_FIX; i++)
        MHD_destroy_response(s->fixed[i]);
    close(s->efd);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->cmu);
    free(s);
}
