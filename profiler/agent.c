/*
 * podflame agent: profiles the node all the time and writes one pprof per
 * interval to object storage (profiler/agent/). Settings come from, lowest
 * to highest: defaults, the --config file, PODFLAME_* environment
 * variables, the command line (opts.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "profiler/agent/agent.h"
#include "profiler/cmd.h"
#include "profiler/opts.h"
#include "profiler/stop.h"

int cmd_agent(int argc, char **argv)
{
    struct settings *s = calloc(1, sizeof(*s));
    struct agent_config c;
    char err[1024];
    int rc, ret;

    if (!s) {
        fprintf(stderr, "podflame agent: out of memory\n");
        return 1;
    }
    if ((rc = opts_parse(&opt_cmd_agent, argc, argv, s, err, sizeof(err)))) {
        ret = opts_exit(&opt_cmd_agent, rc, err);
    } else if (s->check_config) {
        opts_print(&opt_cmd_agent, s, stdout);
        ret = 0;
    } else {
        /* a node agent keeps fewer binaries parsed than record's default
         * 512: its memory must stay flat whatever the node runs */
        s->ses.sym.max_binaries = 128;
        s->ses.sym.max_cached = 65536;
        s->ses.who = "podflame agent";
        c = (struct agent_config){.a = &s->agent,
                                  .ses = s->ses,
                                  .watch = &s->watch,
                                  .http = &s->http,
                                  .stop = &cmd_stop_signal,
                                  .stop_count = &cmd_stop_count,
                                  .log = stderr};
        cmd_catch_stop_signals();
        ret = 0;
        if (agent_run(&c, err, sizeof(err))) {
            fprintf(stderr, "podflame agent: %s\n", err);
            ret = 1;
        }
    }
    opts_free(s);
    free(s);
    return ret;
}
