/*
 * signals.c — the signal table declared in signals.h, built from KW_SIGNALS so that its order
 * always matches enum kw_alert_type.
 */
#include "signals.h"

#include <string.h>

#define KW_SIGNAL_ROW_(E, n, l, k, d) { KW_ALERT_##E, #n, l, k, d },
const struct kw_signal kw_signals[KW_ALERT_NTYPES] = { KW_SIGNALS(KW_SIGNAL_ROW_) };

const struct kw_signal *kw_signal_find(const char *name)
{
	for (int i = 0; name && i < KW_ALERT_NTYPES; i++)
		if (!strcmp(kw_signals[i].name, name))
			return &kw_signals[i];
	return NULL;
}
