/*
 * fake-sysfs device-ioctl shim (LD_PRELOAD), for programs run by `fake-sysfs run`.
 *
 * The emulated /dev/cxl/memN and /dev/nmemN nodes are served by a FUSE mount, where no
 * driver stands behind a character device (CUSE is not available), so a program such as
 * Debian's `cxl` or `ndctl` cannot open them, let alone send ioctls.  This library stands
 * in for those few calls: opening such a node gives a descriptor of /dev/null that is
 * remembered; fstat() of it reports the node as the mount serves it (a character device
 * with the emulated major:minor); ioctl() on it sends the request, with the memory its
 * argument points to, to the emulated kernel over the unix socket named by
 * FAKE_SYSFS_IOCTL_SOCKET, and copies the answer back.  Everything else passes through.
 *
 * Wire format (little-endian): request  = u8 family (1 cxl memdev, 2 nvdimm), u8 name
 * length, name, u64 ioctl number, u32 length + bytes of the argument, u32 length + bytes
 * of the input payload (CXL SEND only); reply = i32 errno, u32 length + bytes of the
 * argument as updated, u32 length + bytes of the output payload (CXL SEND only).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FDS 256
#define CXL_QUERY 0x8008CE01UL
#define CXL_SEND 0xC030CE02UL
#define ND_GET_CONFIG_SIZE 0xC00C4E04UL
#define ND_GET_CONFIG_DATA 0xC00C4E05UL
#define ND_SET_CONFIG_DATA 0xC0084E06UL
#define MAX_ARG (64u << 20)

struct node {
	int fd;
	int family;
	char path[64];
	char name[32];
};

/* The stand-in descriptors; threads of the program may open and close at once. */
static struct node nodes[MAX_FDS];
static pthread_mutex_t nodes_lock = PTHREAD_MUTEX_INITIALIZER;

static int family_of(const char *path, const char **name)
{
	if (!path || !getenv("FAKE_SYSFS_IOCTL_SOCKET"))
		return 0;
	if (strncmp(path, "/dev/cxl/mem", 12) == 0) {
		*name = path + 9;
		return 1;
	}
	if (strncmp(path, "/dev/nmem", 9) == 0) {
		*name = path + 5;
		return 2;
	}
	return 0;
}

/* A copy of the stand-in entry of ``fd`` into ``out``: 1, or 0 when ``fd`` is none. */
static int node_of(int fd, struct node *out)
{
	int found = 0;

	pthread_mutex_lock(&nodes_lock);
	for (int i = 0; i < MAX_FDS; i++) {
		if (nodes[i].family && nodes[i].fd == fd) {
			*out = nodes[i];
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&nodes_lock);
	return found;
}

static int stand_in(const char *path, int family, const char *name)
{
	static int (*real_open)(const char *, int, ...);
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(nodes[0].path) || strlen(name) >= sizeof(nodes[0].name)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* The node must exist, as the kernel's open would need it to. */
	if (stat(path, &st) < 0)
		return -1;
	if (!real_open)
		real_open = dlsym(RTLD_NEXT, "open");
	fd = real_open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&nodes_lock);
	for (int i = 0; i < MAX_FDS; i++) {
		if (!nodes[i].family) {
			nodes[i].fd = fd;
			nodes[i].family = family;
			strcpy(nodes[i].path, path);
			strcpy(nodes[i].name, name);
			pthread_mutex_unlock(&nodes_lock);
			return fd;
		}
	}
	pthread_mutex_unlock(&nodes_lock);
	close(fd);
	errno = EMFILE;
	return -1;
}

#define OPEN_WRAPPER(fn, ...)                                                    \
	{                                                                        \
		static int (*real)();                                            \
		const char *name;                                                \
		int family = family_of(path, &name);                             \
		if (family)                                                      \
			return stand_in(path, family, name);                     \
		if (!real)                                                       \
			real = dlsym(RTLD_NEXT, fn);                             \
		return real(__VA_ARGS__);                                        \
	}

/* The mode argument, present only when the flags need one (glibc's __OPEN_NEEDS_MODE):
 * O_TMPFILE shares its O_DIRECTORY bit with every directory open, so it must match whole. */
static mode_t mode_arg(int flags, va_list ap)
{
	int needs = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;

	return needs ? va_arg(ap, mode_t) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_WRAPPER("open", path, flags, mode)
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_WRAPPER("open64", path, flags, mode)
}

int __open_2(const char *path, int flags) OPEN_WRAPPER("__open_2", path, flags)
int __open64_2(const char *path, int flags) OPEN_WRAPPER("__open64_2", path, flags)

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_WRAPPER("openat", dirfd, path, flags, mode)
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_WRAPPER("openat64", dirfd, path, flags, mode)
}

int close(int fd)
{
	static int (*real)(int);

	pthread_mutex_lock(&nodes_lock);
	for (int i = 0; i < MAX_FDS; i++)
		if (nodes[i].family && nodes[i].fd == fd)
			nodes[i].family = 0;
	pthread_mutex_unlock(&nodes_lock);
	if (!real)
		real = dlsym(RTLD_NEXT, "close");
	return real(fd);
}

#define FSTAT_WRAPPER(fn, type, ...)                                             \
	{                                                                        \
		static int (*real)();                                            \
		struct node n;                                                   \
		if (node_of(fd, &n))                                             \
			return stat(n.path, (struct stat *)buf);                 \
		if (!real)                                                       \
			real = dlsym(RTLD_NEXT, fn);                             \
		return real(__VA_ARGS__);                                        \
	}

int fstat(int fd, struct stat *buf) FSTAT_WRAPPER("fstat", struct stat, fd, buf)
int fstat64(int fd, struct stat64 *buf) FSTAT_WRAPPER("fstat64", struct stat64, fd, buf)
int __fxstat(int ver, int fd, struct stat *buf) FSTAT_WRAPPER("__fxstat", struct stat, ver, fd, buf)
int __fxstat64(int ver, int fd, struct stat64 *buf)
	FSTAT_WRAPPER("__fxstat64", struct stat64, ver, fd, buf)

static int write_all(int s, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(s, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int read_all(int s, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(s, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static uint32_t get32(const void *p, size_t off)
{
	uint32_t v;
	memcpy(&v, (const char *)p + off, 4);
	return v;
}

static uint64_t get64(const void *p, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)p + off, 8);
	return v;
}

/* Connect ``s`` to the server's socket at ``path``. A path too long for sun_path (a deep
 * TMPDIR) is reached through a descriptor of its directory, as the server bound it. */
static int connect_to(int s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *slash = strrchr(path, '/');
	char *parent;
	int dir, rc, saved;

	if (strlen(path) < sizeof(sa.sun_path)) {
		strcpy(sa.sun_path, path);
		return connect(s, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (!slash || slash == path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	parent = strndup(path, slash - path);
	if (!parent)
		return -1;
	dir = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(parent);
	if (dir < 0)
		return -1;
	rc = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dir, slash + 1);
	if (rc < 0 || (size_t)rc >= sizeof(sa.sun_path)) {
		close(dir);
		errno = ENAMETOOLONG;
		return -1;
	}
	rc = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	saved = errno;
	close(dir);
	errno = saved;
	return rc;
}

/* Send one request; 0 or -1 with errno set (EIO when the emulation cannot be reached). */
static int forward(struct node *n, unsigned long request, void *arg, uint32_t arg_len,
		   const void *in, uint32_t in_len, void *out, uint32_t out_max)
{
	const char *path = getenv("FAKE_SYSFS_IOCTL_SOCKET");
	uint8_t head[2] = { (uint8_t)n->family, (uint8_t)strlen(n->name) };
	uint64_t req = request;
	int32_t err = EIO;
	uint32_t len;
	int s, rc = -1;

	if (!path) {
		errno = EIO;
		return -1;
	}
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect_to(s, path) < 0)
		goto io;
	if (write_all(s, head, 2) || write_all(s, n->name, head[1]) || write_all(s, &req, 8) ||
	    write_all(s, &arg_len, 4) || write_all(s, arg, arg_len) || write_all(s, &in_len, 4) ||
	    (in_len && write_all(s, in, in_len)))
		goto io;
	if (read_all(s, &err, 4) || read_all(s, &len, 4) || len != arg_len ||
	    read_all(s, arg, len) || read_all(s, &len, 4))
		goto io;
	if (len) {
		char *tmp = malloc(len);
		if (!tmp || read_all(s, tmp, len)) {
			free(tmp);
			goto io;
		}
		memcpy(out, tmp, len < out_max ? len : out_max);
		free(tmp);
	}
	rc = err ? -1 : 0;
	close(s);
	errno = err;
	return rc;
io:
	close(s);
	errno = EIO;
	return -1;
}

int ioctl(int fd, unsigned long request, ...)
{
	static int (*real)(int, unsigned long, ...);
	struct node node, *n = &node;
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!node_of(fd, &node)) {
		if (!real)
			real = dlsym(RTLD_NEXT, "ioctl");
		return real(fd, request, arg);
	}
	/* The kernel takes the number as an unsigned int; callers that hold it in an int
	 * (libcxl does) pass it sign-extended. */
	request &= 0xFFFFFFFFUL;
	if (n->family == 1 && request == CXL_QUERY) {
		uint32_t count = get32(arg, 0);
		if (count > (MAX_ARG - 8) / 16) {
			errno = EINVAL;
			return -1;
		}
		return forward(n, request, arg, 8 + 16 * count, NULL, 0, NULL, 0);
	}
	if (n->family == 1 && request == CXL_SEND) {
		uint32_t in_size = get32(arg, 16), out_size = get32(arg, 32);
		void *in = (void *)(uintptr_t)get64(arg, 24);
		void *out = (void *)(uintptr_t)get64(arg, 40);
		if (in_size > MAX_ARG || out_size > MAX_ARG) {
			errno = EINVAL;
			return -1;
		}
		return forward(n, request, arg, 48, in, in_size, out, out_size);
	}
	if (n->family == 2 && request == ND_GET_CONFIG_SIZE)
		return forward(n, request, arg, 12, NULL, 0, NULL, 0);
	if (n->family == 2 && (request == ND_GET_CONFIG_DATA || request == ND_SET_CONFIG_DATA)) {
		uint32_t length = get32(arg, 4);
		if (length > MAX_ARG) {
			errno = EINVAL;
			return -1;
		}
		return forward(n, request, arg, 12 + length, NULL, 0, NULL, 0);
	}
	/* Other requests still reach the emulated driver, which refuses them. */
	return forward(n, request, arg, 0, NULL, 0, NULL, 0);
}
