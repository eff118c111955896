// The shim is header-only; this file gives SwiftPM a source to build the target from.
#include "CZlibShim.h"
