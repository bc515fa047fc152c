#include "profiler/stop.h"

#include <stddef.h>

volatile sig_atomic_t cmd_stop_signal, cmd_stop_count;

static void on_stop_signal(int sig)
{
    cmd_stop_signal = sig;
    cmd_stop_count++;
}

void cmd_catch_stop_signals(void)
{
    struct sigaction sa = {.sa_handler = on_stop_signal};

    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
