/*
 * Subcommands of the podflame binary. Each parses its own options, prints
 * its own errors and returns the process exit status.
 */
#ifndef PODFLAME_CMD_H
#define PODFLAME_CMD_H

int cmd_record(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_collapse(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_trigger(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_compact(int argc, char **argv);

#endif
