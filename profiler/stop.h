/*
 * stop: how a long-running command learns that it should stop. SIGINT,
 * SIGTERM and SIGHUP set cmd_stop_signal (and count in cmd_stop_count, so
 * that a second one can cut a graceful stop short); SIGPIPE is ignored, so
 * a closed pipe is a write error the command reports, not a silent death.
 */
#ifndef PODFLAME_STOP_H
#define PODFLAME_STOP_H

#include <signal.h>

extern volatile sig_atomic_t cmd_stop_signal, cmd_stop_count;

/* Installs the handlers; call once the command is about to run. */
void cmd_catch_stop_signals(void);

#endif
