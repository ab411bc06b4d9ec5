// <nats/nats.h>, not <nats.h>: the latter emits a deprecation #warning.
#include <nats/nats.h>
