/* The wearsense firmware bridge C core: include this one header. */
#ifndef WSB_H
#define WSB_H

#include "wsb_cobs.h"
#include "wsb_crc.h"
#include "wsb_frame.h"
#include "wsb_ring.h"

#endif /* WSB_H */
