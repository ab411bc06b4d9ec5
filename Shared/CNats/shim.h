// <nats/nats.h>, not <nats.h>: the latter emits a deprecation #warning.
#include <nats/nats.h>

// Not in cnats' public header, but exported by libnats (checked in v3.4.1, the version Debian ships and CI
// installs): what its flusher thread does — lock the connection, write its buffer to the socket, unlock — so a caller
// that has buffered a batch of publishes sends them at once, instead of waiting up to 1 ms for the flusher's timed
// wait, and without the PING round trip of `natsConnection_Flush`. Used only by `NatsConnection.sendBuffered()`.
void natsConn_lockAndRetain(natsConnection *nc);
void natsConn_unlockAndRelease(natsConnection *nc);
natsStatus natsConn_bufferFlush(natsConnection *nc);

// Also internal and exported (v3.4.1): makes a message from one buffer whose first `hdrLen` bytes are the encoded
// header block ("NATS/1.0\r\n" … "\r\n"). Published as it is, without cnats parsing it into a table: the public
// natsMsgHeader_Add costs a hash table and three allocations per header. Used only by `makeNatsMsg`.
natsStatus natsMsg_create(natsMsg **newMsg, const char *subject, int subjLen, const char *reply, int replyLen,
                          const char *buf, int bufLen, int hdrLen);

// Also internal and exported (v3.4.1): frees a message at once. natsMsg_Destroy hands every message to libnats'
// garbage-collector thread instead, waking it whenever it sleeps: at 5k messages/s the busiest thread of a process,
// competing with the hot ones for two cores. The bus frees the messages it owns itself (`freeMessage`); libnats sets
// "no destroy" only on messages of its own JetStream subscriptions, which the bus does not use.
void natsMsg_free(void *object);
