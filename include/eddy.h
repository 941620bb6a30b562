/* eddy.h - the umbrella header: everything a user of eddy needs. */
#ifndef EDDY_H
#define EDDY_H

#include <eddy/common.h>
#include <eddy/error.h>
#include <eddy/future.h>
#include <eddy/coro.h>
#include <eddy/runtime.h>
#include <eddy/time.h>
#include <eddy/io.h>
#include <eddy/net.h>
#include <eddy/blocking.h>
#include <eddy/combinators.h>
#include <eddy/sync.h>
#include <eddy/channel.h>

#endif
