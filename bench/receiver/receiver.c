/*
 * The bench's webhook receiver: a loopback HTTP/1.1 sink that costs next to nothing, so the webhook
 * figures measure the sender, not the receiver (bench/receiver.py builds and runs it).
 *
 *   receiver <time field> <log path>
 *
 * Listens on 127.0.0.1 on a port the kernel picks and prints that port as one line on stdout. Every
 * request (keep-alive, Content-Length bodies) is answered 204 at once, and one line is appended to the
 * log:
 *
 *   <arrival, ns since the epoch> <webhook-id header or -> <top-level "<time field>" string of the JSON
 *   body or ->
 *
 * Log lines are written whole, once per event-loop round, so a reader polling the file sees every
 * request within a round of its arrival. SIGTERM or SIGINT: flush the log, exit 0.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD 65536
#define MAX_BODY (16 * 1024 * 1024)
#define READ_CHUNK 65536
#define LOG_FLUSH_AT (1024 * 1024)

static const char RESPONSE[] = "HTTP/1.1 204 No Content\r\n\r\n";
static const char REFUSAL[] = "HTTP/1.1 501 Not Implemented\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

struct conn {
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_cap;
    int close_after; /* answer what is pending, then close */
    int watching_out;
};

static volatile sig_atomic_t stopping = 0;
static char *log_buf;
static size_t log_len, log_cap;
static int log_fd = -1;
static const char *time_field;
static size_t time_field_len;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t cap2 = *cap ? *cap : 4096;
    while (cap2 < need) cap2 *= 2;
    char *grown = realloc(*buf, cap2);
    if (!grown) die("realloc");
    *buf = grown;
    *cap = cap2;
}

static void flush_log(void) {
    size_t done = 0;
    while (done < log_len) {
        ssize_t n = write(log_fd, log_buf + done, log_len - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("write log");
        }
        done += (size_t)n;
    }
    log_len = 0;
}

/* Appends `s` to the log, every byte that could split a line or a field replaced by '_'. */
static void log_field(const char *s, size_t n) {
    if (n == 0) {
        s = "-";
        n = 1;
    }
    reserve(&log_buf, &log_cap, log_len + n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        log_buf[log_len++] = (c <= ' ' || c == 0x7f) ? '_' : (char)c;
    }
}

/* The string value of a top-level key of a JSON object (not one nested in `data`), unescaped bytes
 * as they stand; 0 when there is none. */
static int top_level_string(const char *s, size_t n, const char **value, size_t *value_len) {
    int depth = 0;
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            size_t start = ++i;
            while (i < n && s[i] != '"') i += (s[i] == '\\') ? 2 : 1;
            if (i >= n) return 0;
            size_t end = i++;
            if (depth != 1) continue;
            size_t j = i;
            while (j < n && isspace((unsigned char)s[j])) j++;
            if (j >= n || s[j] != ':') continue; /* a value, not a key */
            if (end - start != time_field_len || memcmp(s + start, time_field, time_field_len) != 0) continue;
            j++;
            while (j < n && isspace((unsigned char)s[j])) j++;
            if (j >= n || s[j] != '"') return 0;
            size_t k = ++j;
            while (k < n && s[k] != '"') k += (s[k] == '\\') ? 2 : 1;
            if (k >= n) return 0;
            *value = s + j;
            *value_len = k - j;
            return 1;
        }
        if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') depth--;
        i++;
    }
    return 0;
}

static void queue_out(struct conn *c, const char *s, size_t n) {
    reserve(&c->out, &c->out_cap, c->out_len + n);
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

/* A header's value (trimmed) when `line` is that header; NULL otherwise. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *value_len) {
    size_t name_len = strlen(name);
    if (len <= name_len || line[name_len] != ':' || strncasecmp(line, name, name_len) != 0) return NULL;
    const char *v = line + name_len + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    *value_len = (size_t)(end - v);
    return v;
}

/* Answers every complete request in the input buffer; 0 when the connection must be dropped. */
static int handle_requests(struct conn *c) {
    size_t used = 0;
    while (!c->close_after) {
        char *start = c->in + used;
        size_t avail = c->in_len - used;
        char *head_end = memmem(start, avail, "\r\n\r\n", 4);
        if (!head_end) {
            if (avail > MAX_HEAD) return 0;
            break;
        }
        size_t head_len = (size_t)(head_end - start) + 4;
        size_t body_len = 0, id_len = 0;
        const char *id = NULL;
        int chunked = 0;
        char *line = (char *)memchr(start, '\n', head_len) + 1; /* past the request line */
        while (line < head_end) {
            char *eol = memmem(line, (size_t)(head_end + 2 - line), "\r\n", 2);
            size_t len = (size_t)(eol - line), vlen;
            const char *v;
            if ((v = header_value(line, len, "content-length", &vlen))) {
                body_len = strtoul(v, NULL, 10);
            } else if ((v = header_value(line, len, "webhook-id", &vlen))) {
                id = v;
                id_len = vlen;
            } else if ((v = header_value(line, len, "transfer-encoding", &vlen))) {
                chunked = 1;
            } else if ((v = header_value(line, len, "connection", &vlen))) {
                if (vlen == 5 && strncasecmp(v, "close", 5) == 0) c->close_after = 1;
            }
            line = eol + 2;
        }
        if (chunked || body_len > MAX_BODY) { /* the senders measured here use Content-Length */
            queue_out(c, REFUSAL, sizeof REFUSAL - 1);
            c->close_after = 1;
            break;
        }
        if (avail < head_len + body_len) {
            reserve(&c->in, &c->in_cap, used + head_len + body_len);
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        char stamp[32];
        int stamp_len = snprintf(stamp, sizeof stamp, "%lld%09ld ", (long long)now.tv_sec, now.tv_nsec);
        reserve(&log_buf, &log_cap, log_len + (size_t)stamp_len);
        memcpy(log_buf + log_len, stamp, (size_t)stamp_len);
        log_len += (size_t)stamp_len;
        log_field(id, id ? id_len : 0);
        log_buf[log_len++] = ' ';
        const char *t = NULL;
        size_t t_len = 0;
        top_level_string(start + head_len, body_len, &t, &t_len);
        log_field(t, t_len);
        log_buf[log_len++] = '\n';
        queue_out(c, RESPONSE, sizeof RESPONSE - 1);
        used += head_len + body_len;
    }
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    return 1;
}

static void drop(int epoll_fd, struct conn *c) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Sends what is pending; 0 when the connection is finished (error, or answered and closing). */
static int send_pending(int epoll_fd, struct conn *c) {
    size_t sent = 0;
    while (sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + sent, c->out_len - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return 0;
        }
        sent += (size_t)n;
    }
    memmove(c->out, c->out + sent, c->out_len - sent);
    c->out_len -= sent;
    int want_out = c->out_len > 0;
    if (want_out != c->watching_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
        c->watching_out = want_out;
    }
    return !(c->close_after && c->out_len == 0);
}

static void accept_all(int epoll_fd, int listen_fd) {
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) continue;
            return; /* EAGAIN, or a connection gone before it was accepted */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) die("calloc");
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    }
}

static void on_readable(int epoll_fd, struct conn *c) {
    reserve(&c->in, &c->in_cap, c->in_len + READ_CHUNK);
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) { /* closed by the sender, or broken */
        drop(epoll_fd, c);
        return;
    }
    c->in_len += (size_t)n;
    if (!handle_requests(c) || !send_pending(epoll_fd, c)) drop(epoll_fd, c);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <time field> <log path>\n", argv[0]);
        return 2;
    }
    time_field = argv[1];
    time_field_len = strlen(time_field);
    log_fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) die("open log");

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) die("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(listen_fd, 1024) < 0) die("listen");
    socklen_t addr_len = sizeof addr;
    if (getsockname(listen_fd, (struct sockaddr *)&addr, &addr_len) < 0) die("getsockname");
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) die("epoll_ctl");

    struct epoll_event events[256];
    while (!stopping) {
        /* bounded wait: a signal landing just before epoll_wait is seen within this */
        int n = epoll_wait(epoll_fd, events, 256, 200);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                accept_all(epoll_fd, listen_fd);
            } else if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(epoll_fd, c);
            } else if (events[i].events & EPOLLOUT) {
                if (!send_pending(epoll_fd, c)) drop(epoll_fd, c);
            }
        }
        if (log_len) flush_log();
    }
    flush_log();
    return 0;
}
