// Refuses to compile a private header outside the Aether build (they are not installed).
#pragma once
#ifndef AETHER_INTERNAL_BUILD
#error "aether/internal headers are private to the Aether library and its tests"
#endif
