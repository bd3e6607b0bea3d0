/*
 * inject — the host side of the VM's NIC tests (issue 11). Runs inside the network namespace vm.sh
 * creates for the boot, beside QEMU, and talks to the guest only through the shared run folder:
 *
 *   inject serve <dir>     wait for <dir>/req-<k> (k = 1, 2, ...), run it, write <dir>/res-<k>.json
 *
 * A request is one line of key=value words:
 *   if=<tap> mac=<guest mac> frames=<n> flows=<n> base=<first flow id> window=<n> mode=echo|offer bad=<n>
 *   idle_ms=<n> run=<id>
 * `echo`: sends `frames` frames round-robin over `flows` flows, at most `window` unanswered at a time,
 * and counts what comes back (the guest swaps the MACs): per flow, every sequence number exactly once
 * and in order. `window=0` sends without waiting (a burst: what the tap cannot queue is its
 * tx_dropped). `offer`: sends and does not expect anything back (the kernel driver's side of the
 * bench). `bad` malformed frames (runts; a bad magic) are interleaved; none may come back.
 * `end` as the request stops the server.
 *
 * Every frame goes to the guest's MAC only, from a locally administered source MAC that is not the
 * tap's, so the namespace's own stack drops what the guest sends back (PACKET_OTHERHOST) and never
 * answers: the tap has no address, IPv6 is off in the namespace, and nothing else is ever a target.
 * The IPv4/UDP headers exist for the tap's flow hash (tun's automq steering spreads flows over its
 * queues, i.e. over the virtio RX queues); their addresses are TEST-NET-1 (RFC 5737), never routed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x56514e46u /* "VQNF": a frame of this test */
#define FRAME_LEN 60      /* 14 Ethernet + 20 IPv4 + 8 UDP + 16 tag, padded to the 60-byte minimum */
#define MAX_FLOWS 4096
#define TAG_OFF 42        /* the tag after the UDP header: magic, run, flow, seq (big endian) */

static const uint8_t src_mac[6] = { 0x02, 0x76, 0x71, 0x00, 0x00, 0x01 };

struct req {
	char ifname[IFNAMSIZ];
	uint8_t mac[6];
	long frames, flows, base, window, bad, idle_ms, run;
	int echo;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned m[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	return 0;
}

/* Parses a request line; returns 1 for `end`, 0 for a request, -1 when malformed. */
static int parse_req(char *line, struct req *r)
{
	memset(r, 0, sizeof(*r));
	r->flows = 64;
	r->window = 256;
	r->idle_ms = 3000;
	r->echo = 1;
	if (strncmp(line, "end", 3) == 0)
		return 1;
	int have_if = 0, have_mac = 0;
	for (char *w = strtok(line, " \t\n"); w; w = strtok(NULL, " \t\n")) {
		char *v = strchr(w, '=');
		if (!v)
			return -1;
		*v++ = 0;
		if (!strcmp(w, "if")) {
			snprintf(r->ifname, sizeof(r->ifname), "%s", v);
			have_if = 1;
		} else if (!strcmp(w, "mac")) {
			if (parse_mac(v, r->mac))
				return -1;
			have_mac = 1;
		} else if (!strcmp(w, "mode")) {
			r->echo = strcmp(v, "offer") != 0;
		} else {
			long n = strtol(v, NULL, 10);
			if (!strcmp(w, "frames")) r->frames = n;
			else if (!strcmp(w, "flows")) r->flows = n;
			else if (!strcmp(w, "base")) r->base = n;
			else if (!strcmp(w, "window")) r->window = n;
			else if (!strcmp(w, "bad")) r->bad = n;
			else if (!strcmp(w, "idle_ms")) r->idle_ms = n;
			else if (!strcmp(w, "run")) r->run = n;
			else return -1;
		}
	}
	if (!have_if || !have_mac || r->flows < 1 || r->base < 0 || r->base + r->flows > MAX_FLOWS || r->frames < 0)
		return -1;
	return 0;
}

static long read_counter(const char *ifname, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One test frame of flow `flow`: the flow picks the UDP ports, so the tap hashes it to one queue. */
static void build_frame(uint8_t *f, const struct req *r, uint32_t flow, uint32_t seq)
{
	memset(f, 0, FRAME_LEN);
	memcpy(f, r->mac, 6);
	memcpy(f + 6, src_mac, 6);
	f[12] = 0x08; /* ETH_P_IP */
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[2] = 0;
	ip[3] = 20 + 8 + 16;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	ip[12] = 192, ip[13] = 0, ip[14] = 2, ip[15] = 1;  /* 192.0.2.1 (TEST-NET-1) */
	ip[16] = 192, ip[17] = 0, ip[18] = 2, ip[19] = 2;  /* 192.0.2.2 */
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8), ip[11] = (uint8_t)~sum;
	uint8_t *udp = ip + 20;
	uint16_t sport = (uint16_t)(10000 + flow), dport = (uint16_t)(20000 + flow * 7);
	udp[0] = sport >> 8, udp[1] = (uint8_t)sport, udp[2] = dport >> 8, udp[3] = (uint8_t)dport;
	udp[5] = 8 + 16; /* length; checksum 0 = none (IPv4) */
	put32(f + TAG_OFF, MAGIC);
	put32(f + TAG_OFF + 4, (uint32_t)r->run);
	put32(f + TAG_OFF + 8, flow);
	put32(f + TAG_OFF + 12, seq);
}

struct counts {
	long sent, sent_bad, send_errors, received, foreign, bad_back, dup_or_reorder, wrong_mac;
	long next[MAX_FLOWS];   /* next sequence number expected back, per flow */
	long sent_per_flow[MAX_FLOWS];
	long gaps;              /* sequence numbers skipped (lost on the way) */
};

/* Takes one frame that came back; true if it is one of ours. */
static void account(struct counts *c, const struct req *r, const uint8_t *f, ssize_t n)
{
	if (n < TAG_OFF + 16 || get32(f + TAG_OFF) != MAGIC || get32(f + TAG_OFF + 4) != (uint32_t)r->run) {
		c->foreign++;
		return;
	}
	if (memcmp(f, src_mac, 6) != 0 || memcmp(f + 6, r->mac, 6) != 0)
		c->wrong_mac++;
	uint32_t flow = get32(f + TAG_OFF + 8), seq = get32(f + TAG_OFF + 12);
	if (flow == 0xffffffffu) {
		c->bad_back++;
		return;
	}
	if (flow < (uint32_t)r->base || flow - (uint32_t)r->base >= (uint32_t)r->flows) {
		c->foreign++;
		return;
	}
	flow -= (uint32_t)r->base;
	c->received++;
	if ((long)seq < c->next[flow]) {
		c->dup_or_reorder++;
		return;
	}
	c->gaps += (long)seq - c->next[flow];
	c->next[flow] = (long)seq + 1;
}

static int recv_some(int s, struct counts *c, const struct req *r, int timeout_ms)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	int got = 0;
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	for (;;) {
		uint8_t buf[2048];
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue; /* our own frames, seen on the way out */
		account(c, r, buf, n);
		got++;
	}
	return got;
}

/* Malformed, alternately: a runt (14 bytes, the header only) and a full frame with a tag the guest
 * must reject (a bad magic, flow 0xffffffff). Neither may come back. */
static void send_bad(int s, struct counts *c, const struct req *r)
{
	uint8_t f[FRAME_LEN];
	build_frame(f, r, 0, 0);
	size_t len = FRAME_LEN;
	if (c->sent_bad % 2 == 0) {
		len = 14;
	} else {
		put32(f + TAG_OFF, MAGIC ^ 0xffu);
		put32(f + TAG_OFF + 8, 0xffffffffu);
	}
	if (send(s, f, len, 0) < 0)
		c->send_errors++;
	else
		c->sent_bad++;
}

static void run_req(const struct req *r, FILE *out)
{
	static struct counts c;
	memset(&c, 0, sizeof(c));
	int ifindex = (int)if_nametoindex(r->ifname);
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (s < 0 || ifindex == 0) {
		fprintf(out, "{\"error\":\"socket/if %s: %s\"}\n", r->ifname, strerror(errno));
		return;
	}
	int big = 8 << 20;
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex };
	if (bind(s, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		fprintf(out, "{\"error\":\"bind %s: %s\"}\n", r->ifname, strerror(errno));
		close(s);
		return;
	}
	long drop0 = read_counter(r->ifname, "tx_dropped");
	uint32_t seq[MAX_FLOWS] = { 0 };
	long bad_every = r->bad > 0 ? (r->frames / r->bad > 0 ? r->frames / r->bad : 1) : 0;
	double t0 = now_s(), t_last_rx = t0, t_sent = t0;
	uint8_t f[FRAME_LEN];
	for (long i = 0; i < r->frames;) {
		if (c.sent_bad < r->bad && i >= (c.sent_bad + 1) * bad_every - 1)
			send_bad(s, &c, r);
		if (r->echo && r->window > 0 && c.sent - c.received >= r->window) {
			if (recv_some(s, &c, r, 200) > 0)
				t_last_rx = now_s();
			else if ((now_s() - t_last_rx) * 1000 > r->idle_ms)
				break; /* the guest stopped answering: report what is missing */
			continue;
		}
		uint32_t flow = (uint32_t)(i % r->flows);
		build_frame(f, r, (uint32_t)r->base + flow, seq[flow]);
		if (send(s, f, FRAME_LEN, 0) < 0) {
			if (errno == ENOBUFS || errno == EAGAIN) {
				recv_some(s, &c, r, 1);
				continue; /* the qdisc is full: retry this frame */
			}
			c.send_errors++;
		} else {
			seq[flow]++;
			c.sent_per_flow[flow]++;
			c.sent++;
		}
		i++;
		if (r->echo && (i & 63) == 0 && recv_some(s, &c, r, 0) > 0)
			t_last_rx = now_s();
	}
	while (c.sent_bad < r->bad)
		send_bad(s, &c, r);
	t_sent = now_s();
	if (r->echo) {
		t_last_rx = now_s();
		while (c.received < c.sent && (now_s() - t_last_rx) * 1000 < r->idle_ms)
			if (recv_some(s, &c, r, 100) > 0)
				t_last_rx = now_s();
		/* A little longer: anything extra (a duplicate, a malformed frame forwarded) shows up. */
		double until = now_s() + 0.3;
		while (now_s() < until)
			recv_some(s, &c, r, 50);
	}
	double t1 = now_s();
	long drop1 = read_counter(r->ifname, "tx_dropped");
	long missing_flows = 0, flows_short = 0;
	for (long fl = 0; fl < r->flows; fl++) {
		if (c.next[fl] != c.sent_per_flow[fl])
			flows_short++;
		if (c.sent_per_flow[fl] > 0 && c.next[fl] == 0)
			missing_flows++;
	}
	fprintf(out,
		"{\"run\":%ld,\"if\":\"%s\",\"frames\":%ld,\"flows\":%ld,\"window\":%ld,\"sent\":%ld,\"sentBad\":%ld,"
		"\"sendErrors\":%ld,\"received\":%ld,\"gaps\":%ld,\"dupOrReorder\":%ld,\"wrongMac\":%ld,"
		"\"badBack\":%ld,\"foreign\":%ld,\"flowsShort\":%ld,\"flowsSilent\":%ld,\"tapTxDropped\":%ld,"
		"\"sendSeconds\":%.3f,\"seconds\":%.3f}\n",
		r->run, r->ifname, r->frames, r->flows, r->window, c.sent, c.sent_bad, c.send_errors, c.received,
		c.gaps, c.dup_or_reorder, c.wrong_mac, c.bad_back, c.foreign, flows_short, missing_flows,
		drop0 >= 0 && drop1 >= 0 ? drop1 - drop0 : -1, t_sent - t0, t1 - t0);
	close(s);
}

int main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "serve") != 0) {
		fprintf(stderr, "usage: inject serve <dir>\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *dir = argv[2];
	for (int k = 1;; k++) {
		char path[4096], tmp[4096], line[1024];
		snprintf(path, sizeof(path), "%s/req-%d", dir, k);
		FILE *f;
		/* The guest writes req-<k> over 9p; look every 20 ms (no busy loop while idle). */
		while ((f = fopen(path, "r")) == NULL)
			usleep(20000);
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
		struct req r;
		int p = parse_req(line, &r);
		snprintf(tmp, sizeof(tmp), "%s/res-%d.json.tmp", dir, k);
		FILE *out = fopen(tmp, "w");
		if (!out)
			return 1;
		if (p == 1) {
			fprintf(out, "{\"end\":true}\n");
		} else if (p < 0) {
			fprintf(out, "{\"error\":\"malformed request\"}\n");
		} else {
			run_req(&r, out);
		}
		fclose(out);
		snprintf(path, sizeof(path), "%s/res-%d.json", dir, k);
		rename(tmp, path);
		if (p == 1)
			return 0;
	}
}
