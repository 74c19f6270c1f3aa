// The one-socket floor for a loopback ping sweep: one raw ICMP socket, a window of echoes in flight,
// a plain sendto/recv per packet, replies matched by identifier and sequence. No timeouts (every
// address of 127/8 answers on lo). `ping-floor BASE COUNT WINDOW` prints the replies it counted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static unsigned short checksum(const unsigned char *p, int n) {
  unsigned sum = 0;
  for (int i = 0; i + 1 < n; i += 2) sum += p[i] << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (unsigned short)~sum;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  struct in_addr base;
  inet_pton(AF_INET, argv[1], &base);
  long count = atol(argv[2]), window = atol(argv[3]), sent = 0, replies = 0;
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (fd < 0) return perror("socket"), 3;
  struct icmp_filter { unsigned data; } filter = {~(1u << ICMP_ECHOREPLY)};
  setsockopt(fd, SOL_RAW, 1, &filter, sizeof filter);
  // A receive buffer that holds a window of replies, and a second's wait at most: a lost reply must
  // not hang the floor (it then prints fewer replies, and the bench says the answer is wrong).
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  struct timeval wait = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  unsigned short id = (unsigned short)getpid();
  unsigned char packet[16] = {ICMP_ECHO, 0}, in[512];
  while (replies < count) {
    for (; sent < count && sent - replies < window; sent++) {
      packet[2] = packet[3] = 0;
      packet[4] = id >> 8, packet[5] = id & 0xff, packet[6] = (sent >> 8) & 0xff, packet[7] = sent & 0xff;
      unsigned short sum = checksum(packet, sizeof packet);
      packet[2] = sum >> 8, packet[3] = sum & 0xff;
      struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(ntohl(base.s_addr) + (unsigned)sent)};
      if (sendto(fd, packet, sizeof packet, 0, (struct sockaddr *)&to, sizeof to) < 0) return perror("sendto"), 4;
    }
    ssize_t n = recv(fd, in, sizeof in, 0);
    if (n < 0) break;
    if (n < 28) continue;
    unsigned char *icmp = in + (in[0] & 0x0f) * 4;
    if (icmp[0] == ICMP_ECHOREPLY && (icmp[4] << 8 | icmp[5]) == id) replies++;
  }
  printf("%ld\n", replies);
  return 0;
}
