/*
 * fleet_gen: a synthetic fleet's bucket, written exactly as `podflame agent`
 * writes it, for the benchmark and the tests of `podflame query`.
 *
 *   fleet_gen --output URL --nodes N --windows W --start 2026-11-28T10:00:00Z
 *             [--interval 60] [--pods 8] [--stacks 300] [--seed 1] [--truth FILE]
 *             [--s3-endpoint URL] [--s3-region R]
 *
 * URL is file:///DIR or s3://BUCKET/PREFIX (credentials from the environment,
 * as the agent's). For each node node-000, node-001, ... and each window i
 * (start + i * interval, interval seconds long; start must be a multiple of
 * the interval, as the agent's windows are aligned to the clock) it puts
 *
 *   NODE/YYYY/MM/DD/HH/<start>-<end>.pb.gz   the node's profile (19 Hz CPU samples)
 *   NODE/YYYY/MM/DD/HH/<start>-<end>.json    its index line and a newline
 *
 * through profiler/agent/window.h, formats/pprof.h and profiler/io/bucket.h,
 * as the agent's spool and uploader do, with the labels the collector gives
 * a sample (pid, tid, comm, thread, cgroup, node, then for a Pod's process
 * pod_uid, qos, container_id, pod, namespace, container, workload and the
 * Pod's labels as k8s.pod.label.*). Every node runs --pods Pods (at most 60:
 * DaemonSets first, up to half of them, then Deployments and StatefulSets
 * drawn by weight from a fixed table of workloads in shop, payments,
 * kube-system, monitoring and logging; Pod names unique in the fleet) and
 * host processes without Pod labels (kubelet, containerd, kernel threads).
 * Each Pod and host process has samples in every window of its node: about
 * --stacks distinct samples in all, shared by CPU use, at least one each.
 * Counts are skewed (few call chains take most of the time), and CPU use
 * follows a two-hour wave. Everything follows from --seed: two runs with
 * the same arguments write the same bytes.
 *
 * --truth FILE writes what a query over the bucket must find, as one JSON
 * object (counts are samples, the first sample type, samples/count; CPU
 * nanoseconds are samples * period_ns), when every object was put; FILE is
 * checked first, "-" is stdout, a regular file is replaced atomically:
 *
 *   {
 *     "generator": "fleet_gen", "version": 1,
 *     "params": {"nodes": N, "windows": W, "start": "...", "interval": S, "pods": P,
 *                "stacks": K, "seed": X, "period_ns": 52631578},
 *     "windows": {                          one per .pb.gz, by its key (no prefix)
 *       "node-000/2026/11/28/10/20261128T100000Z-20261128T100100Z.pb.gz": {
 *         "node": "node-000", "start": "2026-11-28T10:00:00Z",
 *         "samples": 6843,                  all samples of the window
 *         "host": 412,                      those without Pod labels
 *         "pods": {"shop/checkout-5f7c9d8b4d-x2k9q": 960, ...}   "NAMESPACE/POD"
 *       }, ...
 *     },
 *     "totals": {                           over all windows
 *       "samples": ..., "host": ...,
 *       "nodes": {"node-000": ...},         host samples included
 *       "namespaces": {"shop": ...},
 *       "workloads": {"shop/deployment/checkout": ...},   "NAMESPACE/<workload label>"
 *       "containers": {"shop/checkout": ...},             "NAMESPACE/<container label>"
 *       "pods": {"shop/checkout-5f7c9d8b4d-x2k9q": ...}
 *     },
 *     "pod_info": {"shop/checkout-5f7c9d8b4d-x2k9q": {"node": ..., "workload": ...,
 *                  "container": ..., "pod_uid": ..., "app": ...}, ...}
 *   }
 *
 * Progress goes to stderr every 1000 objects; any failure is one line on
 * stderr and a non-zero exit (2 for bad arguments).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "formats/buf.h"
#include "formats/htab.h"
#include "formats/pprof.h"
#include "formats/profile.h"
#include "profiler/agent/window.h"
#include "profiler/io/bucket.h"
#include "profiler/io/output.h"
#include "profiler/kube/kube.h"

/* The agent's default --freq: its period is what the agent's profiles say. */
#define FREQ_HZ   19
#define PERIOD_NS (1000000000LL / FREQ_HZ)
#define MIN_DEPTH 8
#define MAX_DEPTH 30
#define MAX_TASKS 32

/* ---- a small PRNG: splitmix64, so that output depends on --seed alone ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A stream derived from the seed and a few numbers: each window of each
 * node has its own, so a window's contents do not depend on the order the
 * others were made in. */
static uint64_t derive(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t s = seed;

    s ^= splitmix64(&s) + a;
    s ^= splitmix64(&s) + b;
    s ^= splitmix64(&s) + c;
    return splitmix64(&s);
}

/* [0, 1) */
static double unit(uint64_t *s)
{
    return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return n ? splitmix64(s) % n : 0;
}

/* ---- the fleet's code: mappings, functions, locations ---- */

/* Kernel call chains, outermost first: a syscall's or fault's path. */
enum ktail { K_NONE = -1, K_WRITE, K_READ, K_EPOLL, K_FUTEX, K_FAULT, K_COUNT };

static const char *const KTAILS[K_COUNT][18] = {
    [K_WRITE] = {"entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_write", "ksys_write",
                 "vfs_write", "sock_write_iter", "sock_sendmsg", "tcp_sendmsg",
                 "tcp_sendmsg_locked", "tcp_push", "__tcp_push_pending_frames", "tcp_write_xmit",
                 "__tcp_transmit_skb", "__ip_queue_xmit", "ip_finish_output2", "__dev_queue_xmit",
                 NULL},
    [K_READ] = {"entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_read", "ksys_read",
                "vfs_read", "sock_read_iter", "sock_recvmsg", "inet_recvmsg", "tcp_recvmsg",
                "tcp_recvmsg_locked", "skb_copy_datagram_iter", "__skb_datagram_iter",
                "_copy_to_iter", "rep_movs_alternative", NULL},
    [K_EPOLL] = {"entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_epoll_wait",
                 "do_epoll_wait", "ep_poll", "ep_send_events", "ep_item_poll", "sock_poll",
                 "tcp_poll", NULL},
    [K_FUTEX] = {"entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_futex", "do_futex",
                 "futex_wake", "wake_up_q", "try_to_wake_up", "_raw_spin_unlock_irqrestore", NULL},
    [K_FAULT] = {"asm_exc_page_fault", "exc_page_fault", "do_user_addr_fault", "handle_mm_fault",
                 "__handle_mm_fault", "do_anonymous_page", "vma_alloc_folio", "clear_page_erms",
                 NULL},
};

/* What a program's own code calls last: library code, then maybe the kernel. */
struct tail {
    const char *frames[14]; /* outermost first */
    enum ktail kernel;
};

/* Go binaries are static: these sit in the program's own mapping. */
static const struct tail GO_TAILS[] = {
    {{"encoding/json.Marshal", "encoding/json.(*encodeState).marshal",
      "encoding/json.(*encodeState).reflectValue", "encoding/json.structEncoder.encode",
      "encoding/json.stringEncoder", "encoding/json.(*encodeState).string"},
     K_NONE},
    {{"runtime.newobject", "runtime.mallocgc", "runtime.(*mcache).nextFree",
      "runtime.(*mcache).refill", "runtime.(*mcentral).cacheSpan"},
     K_NONE},
    {{"net.(*conn).Write", "net.(*netFD).Write", "internal/poll.(*FD).Write", "syscall.Write",
      "syscall.write", "syscall.Syscall"},
     K_WRITE},
    {{"bufio.(*Reader).Read", "net.(*conn).Read", "net.(*netFD).Read", "internal/poll.(*FD).Read",
      "syscall.Read", "syscall.read", "syscall.Syscall"},
     K_READ},
    {{"runtime.mapaccess2_faststr", "runtime.memequal"}, K_NONE},
    {{"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).writeRecordLocked",
      "crypto/cipher.(*gcmAsm).Seal", "crypto/aes.gcmAesEnc"},
     K_NONE},
    {{"crypto/sha256.(*digest).Write", "crypto/sha256.block"}, K_NONE},
    {{"github.com/jackc/pgx/v5.(*Conn).Query",
      "github.com/jackc/pgx/v5/pgconn.(*PgConn).ExecParams",
      "github.com/jackc/pgx/v5/pgconn.(*PgConn).receiveMessage",
      "github.com/jackc/pgx/v5/pgproto3.(*Frontend).Receive", "bufio.(*Reader).Read",
      "net.(*conn).Read", "net.(*netFD).Read", "internal/poll.(*FD).Read", "syscall.Read",
      "syscall.read", "syscall.Syscall"},
     K_READ},
    {{"google.golang.org/protobuf/proto.MarshalOptions.marshal",
      "google.golang.org/protobuf/internal/impl.(*MessageInfo).marshal",
      "google.golang.org/protobuf/internal/impl.(*MessageInfo).marshalAppendPointer",
      "google.golang.org/protobuf/encoding/protowire.AppendVarint"},
     K_NONE},
    {{"log/slog.(*Logger).log", "log/slog.(*JSONHandler).Handle",
      "log/slog.(*commonHandler).handle", "fmt.Sprintf", "fmt.(*pp).doPrintf", "fmt.(*pp).printArg",
      "strconv.AppendInt"},
     K_NONE},
    {{"regexp.(*Regexp).MatchString", "regexp.(*Regexp).doExecute", "regexp.(*Regexp).backtrack",
      "regexp.(*bitState).push"},
     K_NONE},
    {{"sync.(*Mutex).Unlock", "sync.(*Mutex).unlockSlow", "sync.runtime_Semrelease",
      "runtime.semrelease1", "runtime.readyWithTime", "runtime.goready", "runtime.systemstack",
      "runtime.ready", "runtime.wakep", "runtime.startm", "runtime.notewakeup",
      "runtime.futexwakeup", "runtime.futex"},
     K_FUTEX},
    {{"runtime.makeslice", "runtime.mallocgc", "runtime.memclrNoHeapPointers"}, K_FAULT},
    {{"compress/gzip.(*Writer).Write", "compress/flate.(*compressor).write",
      "compress/flate.(*compressor).deflate", "compress/flate.(*compressor).findMatch",
      "compress/flate.matchLen"},
     K_NONE},
};

/* C programs' library code: in the image's libc. */
static const struct tail C_TAILS[] = {
    {{"__GI___writev"}, K_WRITE},
    {{"__libc_recv"}, K_READ},
    {{"epoll_wait"}, K_EPOLL},
    {{"malloc", "_int_malloc"}, K_NONE},
    {{"__memmove_avx_unaligned_erms"}, K_NONE},
    {{"__strlen_avx2"}, K_NONE},
    {{"free", "_int_free"}, K_NONE},
    {{"pthread_mutex_unlock", "__lll_lock_wake"}, K_FUTEX},
    {{"__memset_avx2_unaligned_erms"}, K_FAULT},
};

#define NTAILS(a) (sizeof(a) / sizeof(*(a)))

/* How every Go goroutine's stack starts. */
static const char *const GO_ENTRIES[][6] = {
    {"runtime.goexit", "net/http.(*conn).serve", "net/http.serverHandler.ServeHTTP",
     "net/http.(*ServeMux).ServeHTTP", "net/http.HandlerFunc.ServeHTTP", NULL},
    {"runtime.goexit", "google.golang.org/grpc.(*Server).serveStreams.func2.1",
     "google.golang.org/grpc.(*Server).handleStream",
     "google.golang.org/grpc.(*Server).processUnaryRPC", NULL},
    {"runtime.goexit", "runtime.main", "main.main", NULL},
    {"runtime.goexit", "golang.org/x/sync/errgroup.(*Group).Go.func1", NULL},
};

/* The Go runtime's own work: the garbage collector and the scheduler. */
static const struct tail GO_SYSTEM[] = {
    {{"runtime.goexit", "runtime.gcBgMarkWorker", "runtime.systemstack",
      "runtime.gcBgMarkWorker.func2", "runtime.gcDrain", "runtime.scanobject", "runtime.greyobject",
      "runtime.(*gcWork).put"},
     K_NONE},
    {{"runtime.goexit", "runtime.gcBgMarkWorker", "runtime.systemstack",
      "runtime.gcBgMarkWorker.func2", "runtime.gcDrain", "runtime.scanobject", "runtime.findObject",
      "runtime.spanOf"},
     K_NONE},
    {{"runtime.mstart", "runtime.mstart0", "runtime.mstart1", "runtime.schedule",
      "runtime.findRunnable", "runtime.netpoll", "runtime.epollwait"},
     K_EPOLL},
    {{"runtime.mcall", "runtime.park_m", "runtime.schedule", "runtime.findRunnable",
      "runtime.stealWork", "runtime.runqsteal", "runtime.runqgrab", "runtime.usleep"},
     K_NONE},
};

enum kind { DEPLOYMENT, DAEMONSET, STATEFULSET, HOST };
enum style { GO, NATIVE, KERNEL };

static const char *const KIND_NAMES[] = {"deployment", "daemonset", "statefulset", ""};

/* One workload of the fleet (or a host process when ns is NULL). */
struct workload_def {
    const char *ns, *name;
    const char *container, *binary, *comm;
    const char *task_name; /* printf pattern with the task's index (kernel threads) */
    const char *qos;       /* kube_qos_name's spelling */
    const char *cgroup;    /* a host process's */
    /* GO: functions are module/pkg.(*Type).VerbNoun from these lists */
    const char *module, *pkgs, *types, *nouns;
    /* NATIVE, KERNEL: the outermost frames and the program's functions;
     * '@' marks a libc function */
    const char *entry, *pool;
    unsigned millicores; /* mean CPU use of one replica */
    unsigned weight;     /* chance to be one of a node's Pods */
    unsigned tasks;      /* threads, or processes when processes is set */
    unsigned chains;     /* distinct call chains, for --stacks 300 */
    uint32_t tails;      /* bit i: GO_TAILS[i] or C_TAILS[i] may end a chain */
    enum kind kind;
    enum style style;
    bool processes;
};

static const struct workload_def WORKLOADS[] = {
    {.ns = "kube-system",
     .name = "kube-proxy",
     .kind = DAEMONSET,
     .style = GO,
     .container = "kube-proxy",
     .binary = "/usr/local/bin/kube-proxy",
     .comm = "kube-proxy",
     .qos = "burstable",
     .millicores = 100,
     .tasks = 6,
     .chains = 40,
     .module = "k8s.io/kubernetes",
     .pkgs = "pkg/proxy/iptables,pkg/proxy,pkg/util/async,vendor/k8s.io/client-go/tools/cache",
     .types = "Proxier,BoundedFrequencyRunner,EndpointsChangeTracker,Reflector",
     .nouns = "Rules,Endpoints,Services,Chains,Watch",
     .tails = 0x0a1f},
    {.ns = "monitoring",
     .name = "node-exporter",
     .kind = DAEMONSET,
     .style = GO,
     .container = "node-exporter",
     .binary = "/bin/node_exporter",
     .comm = "node_exporter",
     .qos = "burstable",
     .millicores = 80,
     .tasks = 5,
     .chains = 40,
     .module = "github.com/prometheus/node_exporter",
     .pkgs = "collector,collector/cpu,collector/filesystem,collector/netdev",
     .types = "cpuCollector,filesystemCollector,netDevCollector,procfs",
     .nouns = "Stats,Metrics,Mounts,Devices,Info",
     .tails = 0x021b},
    {.ns = "logging",
     .name = "fluent-bit",
     .kind = DAEMONSET,
     .style = NATIVE,
     .container = "fluent-bit",
     .binary = "/fluent-bit/bin/fluent-bit",
     .comm = "fluent-bit",
     .qos = "burstable",
     .millicores = 200,
     .tasks = 4,
     .chains = 40,
     .entry = "@clone3,@start_thread,flb_lib_worker,flb_engine_start,mk_event_wait_2,"
              "flb_engine_handle_event",
     .pool = "flb_input_chunk_append_raw,flb_input_chunk_write,flb_tail_file_chunk,"
             "flb_tail_scan_callback,flb_parser_do,flb_parser_json_do,flb_pack_json,flb_sds_cat,"
             "msgpack_pack_str,msgpack_sbuffer_write,flb_output_flush,cb_forward_flush,"
             "flb_io_net_write,flb_upstream_conn_get,flb_filter_do,cb_kube_filter,"
             "flb_kube_meta_get,flb_hash_table_get,flb_ra_translate,flb_time_pop_from_msgpack",
     .tails = 0x1ff},
    {.ns = "shop",
     .name = "frontend",
     .kind = DEPLOYMENT,
     .style = NATIVE,
     .container = "nginx",
     .binary = "/usr/sbin/nginx",
     .comm = "nginx",
     .qos = "burstable",
     .millicores = 600,
     .weight = 3,
     .tasks = 4,
     .processes = true,
     .chains = 60,
     .entry = "_start,@__libc_start_main,main,ngx_master_process_cycle,"
              "ngx_start_worker_processes,ngx_spawn_process,ngx_worker_process_cycle,"
              "ngx_process_events_and_timers,ngx_epoll_process_events",
     .pool = "ngx_http_wait_request_handler,ngx_http_process_request_line,"
             "ngx_http_process_request_headers,ngx_http_process_request,ngx_http_handler,"
             "ngx_http_core_run_phases,ngx_http_core_content_phase,ngx_http_proxy_handler,"
             "ngx_http_upstream_init,ngx_http_upstream_send_request,"
             "ngx_http_upstream_process_header,ngx_http_proxy_process_status_line,"
             "ngx_http_send_header,ngx_http_output_filter,ngx_http_gzip_body_filter,"
             "ngx_http_write_filter,ngx_linux_sendfile_chain,ngx_ssl_handshake,ngx_ssl_write,"
             "ngx_http_static_handler,ngx_open_cached_file,ngx_http_log_handler,"
             "ngx_http_variable_request,ngx_hash_find,ngx_palloc,ngx_http_parse_request_line,"
             "ngx_http_parse_header_line,ngx_http_upstream_process_upstream",
     .tails = 0x1ff},
    {.ns = "shop",
     .name = "checkout",
     .kind = DEPLOYMENT,
     .style = GO,
     .container = "checkout",
     .binary = "/usr/bin/checkout",
     .comm = "checkout",
     .qos = "burstable",
     .millicores = 900,
     .weight = 3,
     .tasks = 12,
     .chains = 120,
     .module = "github.com/acme/shop/checkout",
     .pkgs = "internal/order,internal/pricing,internal/tax,internal/payment,internal/api,"
             "pkg/cartclient",
     .types = "Service,Handler,Engine,Repository,Client,Validator",
     .nouns = "Order,Cart,Price,TaxRate,Quote,LineItem,Discount,Payment",
     .tails = 0x3bff},
    {.ns = "shop",
     .name = "cart",
     .kind = DEPLOYMENT,
     .style = GO,
     .container = "cart",
     .binary = "/usr/bin/cart",
     .comm = "cart",
     .qos = "burstable",
     .millicores = 400,
     .weight = 3,
     .tasks = 8,
     .chains = 80,
     .module = "github.com/acme/shop/cart",
     .pkgs = "internal/cart,internal/store,internal/session,internal/api",
     .types = "Service,Store,Handler,Cache",
     .nouns = "Cart,Item,Session,Quantity,Promo",
     .tails = 0x1a1f},
    {.ns = "shop",
     .name = "catalog",
     .kind = DEPLOYMENT,
     .style = GO,
     .container = "catalog",
     .binary = "/usr/bin/catalog",
     .comm = "catalog",
     .qos = "burstable",
     .millicores = 500,
     .weight = 2,
     .tasks = 10,
     .chains = 90,
     .module = "github.com/acme/shop/catalog",
     .pkgs = "internal/catalog,internal/search,internal/index,internal/api",
     .types = "Service,Index,Handler,Ranker",
     .nouns = "Product,Query,Facet,Category,Image",
     .tails = 0x2f9f},
    {.ns = "shop",
     .name = "redis-cart",
     .kind = STATEFULSET,
     .style = NATIVE,
     .container = "redis",
     .binary = "/usr/local/bin/redis-server",
     .comm = "redis-server",
     .qos = "guaranteed",
     .millicores = 250,
     .weight = 1,
     .tasks = 4,
     .chains = 40,
     .entry = "_start,@__libc_start_main,main,aeMain,aeProcessEvents",
     .pool = "connSocketEventHandler,readQueryFromClient,processInputBuffer,"
             "processCommandAndResetClient,processCommand,call,getCommand,setCommand,"
             "hsetCommand,hgetallCommand,expireCommand,lookupKeyRead,lookupKeyWrite,dbAdd,"
             "dictFind,dictAddRaw,siphash,createStringObject,addReplyBulk,"
             "_addReplyToBufferOrList,writeToClient,handleClientsWithPendingWrites,serverCron,"
             "activeExpireCycle,databasesCron,zmalloc,sdscatlen,listAddNodeTail",
     .tails = 0x07f},
    {.ns = "payments",
     .name = "api",
     .kind = DEPLOYMENT,
     .style = GO,
     .container = "api",
     .binary = "/usr/bin/payments-api",
     .comm = "payments-api",
     .qos = "guaranteed",
     .millicores = 700,
     .weight = 2,
     .tasks = 10,
     .chains = 100,
     .module = "github.com/acme/payments/api",
     .pkgs = "internal/charge,internal/fraud,internal/ledger,internal/api,pkg/psp",
     .types = "Service,Handler,Scorer,Ledger,Client",
     .nouns = "Charge,Refund,Card,Risk,Account,Transfer",
     .tails = 0x3fff},
    {.ns = "payments",
     .name = "worker",
     .kind = DEPLOYMENT,
     .style = GO,
     .container = "worker",
     .binary = "/usr/bin/payments-worker",
     .comm = "payments-worker",
     .qos = "burstable",
     .millicores = 600,
     .weight = 2,
     .tasks = 8,
     .chains = 80,
     .module = "github.com/acme/payments/worker",
     .pkgs = "internal/worker,internal/settle,internal/ledger,internal/queue",
     .types = "Worker,Settler,Ledger,Consumer",
     .nouns = "Batch,Settlement,Entry,Message,Payout",
     .tails = 0x1baf},
    {.ns = "payments",
     .name = "postgres",
     .kind = STATEFULSET,
     .style = NATIVE,
     .container = "postgres",
     .binary = "/usr/lib/postgresql/16/bin/postgres",
     .comm = "postgres",
     .qos = "guaranteed",
     .millicores = 1100,
     .weight = 1,
     .tasks = 8,
     .processes = true,
     .chains = 80,
     .entry = "_start,@__libc_start_main,main,PostmasterMain,ServerLoop,BackendStartup,"
              "BackendRun,PostgresMain",
     .pool = "exec_simple_query,exec_execute_message,PortalRun,PortalRunSelect,PortalRunMulti,"
             "ProcessQuery,standard_ExecutorRun,ExecutePlan,ExecProcNode,ExecScan,ExecSeqScan,"
             "ExecIndexScan,IndexNext,index_getnext_slot,heap_getnextslot,heapgettup_pagemode,"
             "ExecHashJoin,ExecHashJoinImpl,MultiExecHash,ExecAgg,agg_retrieve_direct,ExecSort,"
             "tuplesort_performsort,qsort_tuple,ExecInterpExpr,slot_deform_heap_tuple,"
             "hash_search_with_hash_value,LWLockAcquire,ReadBufferExtended,heap_insert,"
             "XLogInsert,XLogInsertRecord,pg_parse_query,raw_parser,base_yyparse,"
             "pg_plan_queries,planner,standard_planner,subquery_planner,printtup,"
             "pq_sendcountedtext,pq_flush",
     .tails = 0x1ff},
    {.ns = "kube-system",
     .name = "coredns",
     .kind = DEPLOYMENT,
     .style = GO,
     .container = "coredns",
     .binary = "/coredns",
     .comm = "coredns",
     .qos = "burstable",
     .millicores = 150,
     .weight = 2,
     .tasks = 6,
     .chains = 50,
     .module = "github.com/coredns/coredns",
     .pkgs = "plugin/cache,plugin/kubernetes,plugin/forward,plugin/pkg/dnsutil,core/dnsserver",
     .types = "Cache,Kubernetes,Forward,Server",
     .nouns = "Records,Msg,Query,Zone,Upstream",
     .tails = 0x0a5f},
    {.ns = "monitoring",
     .name = "prometheus",
     .kind = STATEFULSET,
     .style = GO,
     .container = "prometheus",
     .binary = "/bin/prometheus",
     .comm = "prometheus",
     .qos = "burstable",
     .millicores = 1500,
     .weight = 1,
     .tasks = 16,
     .chains = 150,
     .module = "github.com/prometheus/prometheus",
     .pkgs = "tsdb,tsdb/chunkenc,tsdb/index,scrape,promql,storage",
     .types = "DB,Head,Engine,scrapeLoop,Appender,Querier",
     .nouns = "Series,Chunk,Samples,Block,Postings,Matrix",
     .tails = 0x3f1f},
    /* the node's own processes: no Pod */
    {.name = "kubelet",
     .kind = HOST,
     .style = GO,
     .binary = "/usr/bin/kubelet",
     .comm = "kubelet",
     .cgroup = "/system.slice/kubelet.service",
     .millicores = 120,
     .tasks = 12,
     .chains = 60,
     .module = "k8s.io/kubernetes",
     .pkgs = "pkg/kubelet,pkg/kubelet/pleg,pkg/kubelet/cm,pkg/kubelet/stats,"
             "vendor/k8s.io/client-go/rest",
     .types = "Kubelet,GenericPLEG,containerManagerImpl,cadvisorStatsProvider,Request",
     .nouns = "Pods,Relist,Stats,Status,Volumes",
     .tails = 0x0b1f},
    {.name = "containerd",
     .kind = HOST,
     .style = GO,
     .binary = "/usr/bin/containerd",
     .comm = "containerd",
     .cgroup = "/system.slice/containerd.service",
     .millicores = 60,
     .tasks = 10,
     .chains = 40,
     .module = "github.com/containerd/containerd",
     .pkgs = "pkg/cri/server,services/tasks,metadata,snapshots/overlay",
     .types = "criService,service,containerStore,snapshotter",
     .nouns = "ContainerStats,Task,Snapshot,Metadata,Event",
     .tails = 0x0a9f},
    {.name = "kworker",
     .kind = HOST,
     .style = KERNEL,
     .task_name = "kworker/%u:1",
     .cgroup = "/",
     .millicores = 50,
     .tasks = 6,
     .processes = true,
     .chains = 12,
     .entry = "ret_from_fork_asm,ret_from_fork,kthread,worker_thread,process_one_work",
     .pool = "vmstat_update,refresh_cpu_vm_stats,blk_mq_run_work_fn,__blk_mq_run_hw_queue,"
             "blk_mq_sched_dispatch_requests,__blk_mq_do_dispatch_sched,blk_mq_dispatch_rq_list,"
             "nvme_queue_rq,flush_to_ldisc,receive_buf,n_tty_receive_buf_common,wb_workfn,"
             "wb_writeback,writeback_sb_inodes,__writeback_single_inode,do_writepages,"
             "ext4_writepages"},
    {.name = "ksoftirqd",
     .kind = HOST,
     .style = KERNEL,
     .task_name = "ksoftirqd/%u",
     .cgroup = "/",
     .millicores = 40,
     .tasks = 4,
     .processes = true,
     .chains = 10,
     .entry = "ret_from_fork_asm,ret_from_fork,kthread,smpboot_thread_fn,run_ksoftirqd,"
              "handle_softirqs",
     .pool = "net_rx_action,__napi_poll,virtnet_poll,napi_complete_done,"
             "netif_receive_skb_list_internal,__netif_receive_skb_list_core,ip_list_rcv,"
             "ip_sublist_rcv,ip_local_deliver_finish,tcp_v4_rcv,tcp_v4_do_rcv,"
             "tcp_rcv_established,rcu_core,rcu_do_batch,kmem_cache_free,tasklet_action_common,"
             "run_timer_softirq,call_timer_fn"},
};

#define NWORKLOADS (sizeof(WORKLOADS) / sizeof(*WORKLOADS))

struct gmapping {
    char file[128], build_id[41];
    enum pf_frame_kind kind;
    bool lines;      /* DWARF lines: file and line numbers on its functions */
    uint64_t cursor; /* where its next function goes */
};

struct gfunc {
    char *name, *file; /* file "": none */
    uint32_t map;
    uint64_t addr;
    int64_t start_line;
};

struct gloc {
    uint32_t func;
    uint64_t addr;
    int64_t line;
};

struct chain {
    uint32_t *locs; /* outermost first */
    uint8_t n, entry, nentry, nmiddle;
};

struct workload {
    const struct workload_def *d;
    uint32_t map, libc; /* global mappings: the binary, its image's libc */
    uint32_t *pool;     /* functions of its own code */
    size_t npool;
    struct chain *chains;
    size_t nchains;
    char workload_label[96]; /* deployment/checkout */
};

/* The fleet's code, made once from the seed; every profile points into it. */
struct code {
    struct gmapping *maps;
    size_t nmaps, maps_cap;
    struct gfunc *funcs;
    size_t nfuncs, funcs_cap;
    struct gloc *locs;
    size_t nlocs, locs_cap;
    struct htab func_index; /* map + name -> function */
    struct htab loc_index;  /* function + variant -> location */
    uint32_t kernel;        /* the kernel's mapping */
    struct workload wl[NWORKLOADS];
};

static uint64_t hash_str(const char *s)
{
    return htab_hash(s, strlen(s));
}

static int add_mapping(struct code *c, const char *file, uint64_t salt, enum pf_frame_kind kind,
                       bool lines, uint64_t base, uint32_t *out)
{
    struct gmapping *m;

    if (ARRAY_RESERVE_ONE(c->maps, c->nmaps, c->maps_cap))
        return -ENOMEM;
    m = &c->maps[c->nmaps];
    memset(m, 0, sizeof(*m));
    snprintf(m->file, sizeof(m->file), "%s", file);
    if (kind == PF_FRAME_USER) {
        /* a GNU build ID is 20 bytes: two mixed words and a third's half */
        uint64_t s = hash_str(file) ^ salt;

        snprintf(m->build_id, sizeof(m->build_id), "%016" PRIx64 "%016" PRIx64 "%08" PRIx32,
                 splitmix64(&s), splitmix64(&s), (uint32_t)splitmix64(&s));
    }
    m->kind = kind;
    m->lines = lines;
    m->cursor = base;
    *out = (uint32_t)c->nmaps++;
    return 0;
}

/* The source file a Go function's DWARF names: the standard library's, a
 * module's in the module cache, or (own code) the build's. */
static void go_file(const char *name, char *out, size_t len)
{
    const char *slash = strrchr(name, '/'), *dot = strchr(slash ? slash : name, '.');
    size_t plen = dot ? (size_t)(dot - name) : strlen(name);
    const char *first_dot = memchr(name, '.', plen);
    const char *last = slash && slash < name + plen ? slash + 1 : name;
    int llen = (int)(name + plen - last);

    if (first_dot && (!slash || first_dot < slash))
        snprintf(out, len, "/go/pkg/mod/%.*s/%.*s.go", (int)plen, name, llen, last);
    else
        snprintf(out, len, "/usr/local/go/src/%.*s/%.*s.go", (int)plen, name, llen, last);
}

/* The function name in map, added if new; file NULL: derived from the name. */
static int func_for(struct code *c, uint32_t map, const char *name, const char *file, uint32_t *out)
{
    char key[512], path[512];
    size_t klen;
    uint64_t idx = c->nfuncs;
    bool found;
    int rc;

    klen = (size_t)snprintf(key, sizeof(key), "%u/%s", map, name);
    if (klen >= sizeof(key))
        return -ENAMETOOLONG;
    if ((rc = htab_get_or_put(&c->func_index, key, klen, &idx, &found, NULL)))
        return rc;
    if (!found) {
        struct gmapping *m = &c->maps[map];
        uint64_t h = hash_str(name);
        struct gfunc *f;

        if (ARRAY_RESERVE_ONE(c->funcs, c->nfuncs, c->funcs_cap))
            return -ENOMEM;
        f = &c->funcs[c->nfuncs++];
        if (!m->lines)
            path[0] = '\0';
        else if (file)
            snprintf(path, sizeof(path), "%s", file);
        else
            go_file(name, path, sizeof(path));
        f->name = strdup(name);
        f->file = strdup(path);
        if (!f->name || !f->file)
            return -ENOMEM;
        f->map = map;
        f->addr = m->cursor;
        f->start_line = m->lines ? 12 + (int64_t)(h % 1400) : 0;
        /* functions laid out one after the other, 16-byte aligned */
        m->cursor += 0x80 + ((h >> 20) % 0x900 & ~(uint64_t)0xf);
    }
    *out = (uint32_t)idx;
    return 0;
}

/* A place in function f: variants are different call sites in it. */
static int loc_for(struct code *c, uint32_t f, unsigned variant, uint32_t *out)
{
    uint32_t key[2] = {f, variant};
    uint64_t idx = c->nlocs;
    bool found;
    int rc;

    if ((rc = htab_get_or_put(&c->loc_index, key, sizeof(key), &idx, &found, NULL)))
        return rc;
    if (!found) {
        const struct gfunc *fn = &c->funcs[f];
        uint64_t h = hash_str(fn->name) + variant * 0x9e37ULL;

        if (ARRAY_RESERVE_ONE(c->locs, c->nlocs, c->locs_cap))
            return -ENOMEM;
        c->locs[c->nlocs++] = (struct gloc){
            .func = f,
            /* a return address: inside the function, after a call */
            .addr = fn->addr + 5 + (uint64_t)variant * 0x13 + (h % 0x20),
            .line =
                fn->start_line ? fn->start_line + 2 + (int64_t)variant * 7 + (int64_t)(h % 30) : 0,
        };
    }
    *out = (uint32_t)idx;
    return 0;
}

/* The n-th item of a comma-separated list, into out. */
static bool list_item(const char *list, size_t n, char *out, size_t len)
{
    const char *p = list;

    for (size_t i = 0; i < n; i++) {
        p = strchr(p, ',');
        if (!p)
            return false;
        p++;
    }
    snprintf(out, len, "%.*s", (int)strcspn(p, ","), p);
    return true;
}

static size_t list_len(const char *list)
{
    size_t n = 1;

    for (; *list; list++)
        n += *list == ',';
    return n;
}

/* The function a frame name of a NATIVE or KERNEL workload stands for. */
static int native_func(struct code *c, const struct workload *w, const char *name, uint32_t *out)
{
    char file[256];

    if (w->d->style == KERNEL)
        return func_for(c, c->kernel, name, NULL, out);
    if (name[0] == '@')
        return func_for(c, w->libc, name + 1, NULL, out);
    /* its source file: after its prefix (ngx_http_, flb_input_), else the program */
    {
        const char *base = name + strspn(name, "_");
        size_t len = strcspn(base, "_");

        if (base[len])
            len += 1 + strcspn(base + len + 1, "_");
        if (!base[len] && !strchr(base, '_'))
            snprintf(file, sizeof(file), "/usr/src/%s/src/%s.c", w->d->comm, w->d->comm);
        else
            snprintf(file, sizeof(file), "/usr/src/%s/src/%.*s.c", w->d->comm, (int)len, base);
    }
    return func_for(c, w->map, name, file, out);
}

/* The workload's own functions. */
static int make_pool(struct code *c, struct workload *w, uint64_t *rng)
{
    const struct workload_def *d = w->d;
    size_t want = d->style == GO ? 24 + d->chains / 3 : list_len(d->pool);
    static const char *const verbs[] = {"Get",   "Put",     "Compute", "Validate", "Load",
                                        "Apply", "Resolve", "Fetch",   "Encode",   "Build"};
    int rc;

    if (!(w->pool = calloc(want, sizeof(*w->pool))))
        return -ENOMEM;
    for (size_t tries = 0; w->npool < want && tries < want * 20; tries++) {
        char name[400], file[400], pkg[128], type[64], noun[64], ltype[64];
        uint32_t f;
        bool dup = false;

        if (d->style != GO) {
            list_item(d->pool, w->npool, name, sizeof(name));
            if ((rc = native_func(c, w, name, &f)))
                return rc;
            w->pool[w->npool++] = f;
            continue;
        }
        list_item(d->pkgs, below(rng, list_len(d->pkgs)), pkg, sizeof(pkg));
        list_item(d->types, below(rng, list_len(d->types)), type, sizeof(type));
        list_item(d->nouns, below(rng, list_len(d->nouns)), noun, sizeof(noun));
        if (unit(rng) < 0.8) {
            snprintf(name, sizeof(name), "%s/%s.(*%s).%s%s", d->module, pkg, type,
                     verbs[below(rng, 10)], noun);
        } else {
            /* an unexported helper: lower-case verb */
            char verb[16];

            snprintf(verb, sizeof(verb), "%s", verbs[below(rng, 10)]);
            verb[0] = (char)(verb[0] - 'A' + 'a');
            snprintf(name, sizeof(name), "%s/%s.%s%s", d->module, pkg, verb, noun);
        }
        snprintf(ltype, sizeof(ltype), "%s", type);
        ltype[0] = (char)(ltype[0] | 0x20);
        snprintf(file, sizeof(file), "/src/%s/%s.go", pkg, ltype);
        if ((rc = func_for(c, w->map, name, file, &f)))
            return rc;
        for (size_t i = 0; i < w->npool && !dup; i++)
            dup = w->pool[i] == f;
        if (!dup)
            w->pool[w->npool++] = f;
    }
    return 0;
}

/* Appends the locations of the frames of a tail (or a system chain). */
static int add_named(struct code *c, const char *const *names, size_t n, uint32_t map,
                     uint32_t *locs, size_t *nlocs)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t f;
        int rc = func_for(c, map, names[i], NULL, &f);

        if (rc || (rc = loc_for(c, f, 0, &locs[(*nlocs)++])))
            return rc;
    }
    return 0;
}

static size_t count_names(const char *const *names, size_t max)
{
    size_t n = 0;

    while (n < max && names[n])
        n++;
    return n;
}

/* Builds call chain number ci of w into locs; returns its length or a
 * negative errno. Chains share their outer frames with an earlier one most
 * of the time, as a program's stacks form a tree. */
static int make_chain(struct code *c, struct workload *w, size_t ci, uint64_t *rng, uint32_t *locs,
                      struct chain *ch)
{
    const struct workload_def *d = w->d;
    size_t depth = MIN_DEPTH + below(rng, MAX_DEPTH - MIN_DEPTH + 1), n = 0, nmiddle, ntail = 0,
           nk = 0, shared = 0;
    const struct tail *t = NULL;
    const char *const *kt = NULL;
    const struct chain *parent = NULL;
    char name[256];
    int rc;

    if (d->style == GO && unit(rng) < 0.06) {
        /* the runtime's own work: a fixed chain, maybe into the kernel */
        t = &GO_SYSTEM[below(rng, NTAILS(GO_SYSTEM))];
        ntail = count_names(t->frames, 14);
        if ((rc = add_named(c, t->frames, ntail, w->map, locs, &n)))
            return rc;
        if (t->kernel != K_NONE) {
            kt = KTAILS[t->kernel];
            nk = 3 + below(rng, count_names(kt, 18) - 2);
            if ((rc = add_named(c, kt, nk, c->kernel, locs, &n)))
                return rc;
        }
        ch->entry = 0xff;
        ch->nentry = (uint8_t)n;
        ch->nmiddle = 0;
        return (int)n;
    }
    if (ci > 0 && unit(rng) < 0.7) {
        parent = &w->chains[below(rng, ci)];
        if (parent->entry == 0xff || !parent->nmiddle)
            parent = NULL;
    }
    /* the outermost frames */
    if (d->style == GO) {
        size_t e = parent ? parent->entry : below(rng, NTAILS(GO_ENTRIES));

        ch->entry = (uint8_t)e;
        if ((rc = add_named(c, GO_ENTRIES[e], count_names(GO_ENTRIES[e], 6), w->map, locs, &n)))
            return rc;
    } else {
        ch->entry = 0;
        for (size_t i = 0; list_item(d->entry, i, name, sizeof(name)); i++) {
            uint32_t f;

            if ((rc = native_func(c, w, name, &f)) || (rc = loc_for(c, f, 0, &locs[n++])))
                return rc;
        }
    }
    ch->nentry = (uint8_t)n;
    /* the innermost: library code, maybe the kernel below it */
    if (d->tails && unit(rng) < 0.75) {
        const struct tail *set = d->style == GO ? GO_TAILS : C_TAILS;
        size_t nset = d->style == GO ? NTAILS(GO_TAILS) : NTAILS(C_TAILS), i;

        do
            i = below(rng, nset);
        while (!(d->tails >> i & 1));
        t = &set[i];
        ntail = 1 + below(rng, count_names(t->frames, 14));
        if (ntail == count_names(t->frames, 14) && t->kernel != K_NONE) {
            kt = KTAILS[t->kernel];
            nk = 3 + below(rng, count_names(kt, 18) - 2);
        }
    }
    while (n + ntail + nk + 1 > depth && depth < MAX_DEPTH)
        depth++;
    while (n + ntail + nk + 1 > MAX_DEPTH && nk > 3)
        nk--;
    nmiddle = depth > n + ntail + nk ? depth - n - ntail - nk : 1;
    /* the program's own frames: the parent's first ones, then new ones */
    if (parent) {
        shared = 1 + below(rng, parent->nmiddle < nmiddle ? parent->nmiddle : nmiddle);
        memcpy(&locs[n], &parent->locs[parent->nentry], shared * sizeof(*locs));
        n += shared;
    }
    for (size_t i = shared; i < nmiddle; i++) {
        if ((rc = loc_for(c, w->pool[below(rng, w->npool)], (unsigned)below(rng, 3), &locs[n++])))
            return rc;
    }
    ch->nmiddle = (uint8_t)nmiddle;
    if (t && (rc = add_named(c, t->frames, ntail,
                             d->style == GO ? w->map : (d->style == NATIVE ? w->libc : c->kernel),
                             locs, &n)))
        return rc;
    if (kt && (rc = add_named(c, kt, nk, c->kernel, locs, &n)))
        return rc;
    return (int)n;
}

/* The workload's distinct chains; scale: more for a larger --stacks. */
static int make_chains(struct code *c, struct workload *w, double scale, uint64_t *rng)
{
    size_t want = (size_t)(w->d->chains * scale);
    uint32_t locs[MAX_DEPTH + 20];
    struct htab seen;
    int rc = 0;

    htab_init(&seen);
    if (!(w->chains = calloc(want, sizeof(*w->chains)))) {
        htab_free(&seen);
        return -ENOMEM;
    }
    for (size_t tries = 0; !rc && w->nchains < want && tries < want * 10; tries++) {
        struct chain *ch = &w->chains[w->nchains];
        int n = make_chain(c, w, w->nchains, rng, locs, ch);
        uint64_t one = 1;
        bool found;

        if (n <= 0) {
            rc = n ? n : -EINVAL;
            break;
        }
        /* two equal chains would make two samples the agent would have merged */
        if ((rc = htab_get_or_put(&seen, locs, (size_t)n * sizeof(*locs), &one, &found, NULL)) ||
            found)
            continue;
        if (!(ch->locs = malloc((size_t)n * sizeof(*locs)))) {
            rc = -ENOMEM;
            break;
        }
        memcpy(ch->locs, locs, (size_t)n * sizeof(*locs));
        ch->n = (uint8_t)n;
        w->nchains++;
    }
    htab_free(&seen);
    return rc ? rc : w->nchains ? 0 : -EINVAL;
}

static int code_build(struct code *c, uint64_t seed, unsigned stacks)
{
    double scale = stacks > 300 ? stacks / 300.0 : 1.0;
    int rc;

    htab_init(&c->func_index);
    htab_init(&c->loc_index);
    if ((rc = add_mapping(c, PF_KERNEL_MAPPING, 0, PF_FRAME_KERNEL, false, 0xffffffff81000000ULL,
                          &c->kernel)))
        return rc;
    for (size_t i = 0; i < NWORKLOADS; i++) {
        struct workload *w = &c->wl[i];
        const struct workload_def *d = &WORKLOADS[i];
        uint64_t rng = derive(seed, 1, i, 0);

        w->d = d;
        if (d->style != KERNEL) {
            /* Go binaries are linked at 0x400000, C programs are PIEs */
            rc = add_mapping(c, d->binary, seed, PF_FRAME_USER, true,
                             d->style == GO ? 0x401000 : 0x1a000, &w->map);
            if (!rc && d->style == NATIVE)
                rc = add_mapping(c, "/usr/lib/x86_64-linux-gnu/libc.so.6", seed + i, PF_FRAME_USER,
                                 false, 0x28000, &w->libc);
            if (rc)
                return rc;
        }
        if (d->kind != HOST)
            snprintf(w->workload_label, sizeof(w->workload_label), "%s/%s", KIND_NAMES[d->kind],
                     d->name);
        if ((rc = make_pool(c, w, &rng)) || (rc = make_chains(c, w, scale, &rng)))
            return rc;
    }
    return 0;
}

static void code_free(struct code *c)
{
    for (size_t i = 0; i < NWORKLOADS; i++) {
        for (size_t j = 0; j < c->wl[i].nchains; j++)
            free(c->wl[i].chains[j].locs);
        free(c->wl[i].chains);
        free(c->wl[i].pool);
    }
    for (size_t i = 0; i < c->nfuncs; i++) {
        free(c->funcs[i].name);
        free(c->funcs[i].file);
    }
    free(c->funcs);
    free(c->maps);
    free(c->locs);
    htab_free(&c->func_index);
    htab_free(&c->loc_index);
}

/* ---- the fleet: nodes, their Pods and host processes ---- */

struct task {
    uint32_t pid, tid;
    char name[16]; /* comm and thread of a kernel thread */
};

/* A Pod, or a host process group (pod[0] == '\0'). */
struct slot {
    uint32_t wl;
    char pod[80], uid[37], cid[65], cgroup[256], hash[64], app[64];
    double factor, phase; /* its share of the workload's CPU, its wave's phase */
    struct task tasks[MAX_TASKS];
    unsigned ntasks;
    size_t truth; /* index into the per-Pod totals */
};

struct node {
    char name[32];
    struct slot *slots;
    size_t nslots;
};

/* Kubernetes' alphabet for generated names: no vowels, no look-alikes. */
static const char SAFE[] = "bcdfghjklmnpqrstvwxz2456789";

static void random_chars(uint64_t *rng, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = SAFE[below(rng, sizeof(SAFE) - 1)];
    out[n] = '\0';
}

static void random_hex(uint64_t *rng, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = "0123456789abcdef"[below(rng, 16)];
    out[n] = '\0';
}

static size_t count_kind(enum kind k)
{
    size_t n = 0;

    for (size_t i = 0; i < NWORKLOADS; i++)
        n += WORKLOADS[i].kind == k;
    return n;
}

/* The index of the n-th workload of kind k in the table. */
static uint32_t nth_of_kind(enum kind k, size_t n)
{
    size_t i = 0;

    for (; i < NWORKLOADS; i++) {
        if (WORKLOADS[i].kind == k && n-- == 0)
            break;
    }
    return (uint32_t)i;
}

struct fleet_names {
    struct htab pods;              /* NAMESPACE/POD of every Pod made */
    unsigned ordinals[NWORKLOADS]; /* a StatefulSet's next */
    char hashes[NWORKLOADS][16];   /* pod-template-hash, controller-revision-hash */
};

/* A Pod of workload s->wl, named as its controller names them and unique
 * in the fleet, with its UID, container and cgroup; the collector reading
 * its name without the API must find the same workload. */
static int make_pod(struct slot *s, struct fleet_names *fn, uint64_t *rng,
                    const char *workload_label, char *err, size_t errlen)
{
    const struct workload_def *d = &WORKLOADS[s->wl];
    const char *q = !strcmp(d->qos, "guaranteed") ? "" : d->qos;
    char key[200], u[37], derived[128];
    int rc;

    for (int tries = 0;; tries++) {
        uint64_t v = 0;
        size_t klen;
        char sfx[8];
        bool found;

        /* an all-digit suffix is Kubernetes' too, but kube_workload would take
         * it for a StatefulSet's ordinal: the truth would then depend on
         * whether names come from the API or from the Pod's name */
        do
            random_chars(rng, sfx, 5);
        while (strspn(sfx, "0123456789") == 5);
        if (d->kind == DEPLOYMENT)
            snprintf(s->pod, sizeof(s->pod), "%s-%s-%s", d->name, fn->hashes[s->wl], sfx);
        else if (d->kind == DAEMONSET)
            snprintf(s->pod, sizeof(s->pod), "%s-%s", d->name, sfx);
        else
            snprintf(s->pod, sizeof(s->pod), "%s-%u", d->name, fn->ordinals[s->wl]++);
        klen = (size_t)snprintf(key, sizeof(key), "%s/%s", d->ns, s->pod);
        if ((rc = htab_get_or_put(&fn->pods, key, klen, &v, &found, NULL))) {
            snprintf(err, errlen, "out of memory");
            return rc;
        }
        if (!found)
            break;
        if (tries > 100) {
            snprintf(err, errlen, "no free name for another Pod of %s/%s", d->ns, d->name);
            return -EEXIST;
        }
    }
    if (!kube_workload(s->pod, derived, sizeof(derived)) || strcmp(derived, workload_label) != 0) {
        snprintf(err, errlen,
                 "Pod %s/%s: the collector would name its workload %s, not %s (fix the table)",
                 d->ns, s->pod,
                 kube_workload(s->pod, derived, sizeof(derived)) ? derived : "(none)",
                 workload_label);
        return -EPROTO;
    }
    /* the Pod's labels: app, and its controller's hash as the controller spells it */
    snprintf(s->app, sizeof(s->app), "%s", d->name);
    if (d->kind == DEPLOYMENT)
        snprintf(s->hash, sizeof(s->hash), "%s", fn->hashes[s->wl]);
    else
        snprintf(s->hash, sizeof(s->hash), "%.50s-%.10s", d->name, fn->hashes[s->wl]);
    /* a UUID v4's shape */
    random_hex(rng, s->uid, 36);
    s->uid[8] = s->uid[13] = s->uid[18] = s->uid[23] = '-';
    s->uid[14] = '4';
    s->uid[19] = "89ab"[below(rng, 4)];
    random_hex(rng, s->cid, 64);
    /* the systemd driver's cgroup, containerd's scope in it */
    snprintf(u, sizeof(u), "%s", s->uid);
    for (char *p = u; *p; p++)
        *p = *p == '-' ? '_' : *p;
    snprintf(s->cgroup, sizeof(s->cgroup),
             "/kubepods.slice%s%s%s/kubepods%s%s-pod%s.slice/cri-containerd-%s.scope",
             *q ? "/kubepods-" : "", q, *q ? ".slice" : "", *q ? "-" : "", q, u, s->cid);
    return 0;
}

static bool pid_taken(const struct node *nd, size_t nslots, uint32_t lo, uint32_t hi)
{
    for (size_t i = 0; i < nslots; i++) {
        for (unsigned t = 0; t < nd->slots[i].ntasks; t++) {
            if (nd->slots[i].tasks[t].pid >= lo && nd->slots[i].tasks[t].pid <= hi)
                return true;
        }
    }
    return false;
}

/* The slot's threads (one process) or processes, with pids no other slot
 * of the node has: two tasks with one pid would be one in the agent. */
static void make_tasks(struct node *nd, size_t si, uint64_t *rng)
{
    struct slot *s = &nd->slots[si];
    const struct workload_def *d = &WORKLOADS[s->wl];
    uint32_t pid, last;

    s->ntasks = d->tasks < MAX_TASKS ? d->tasks : MAX_TASKS;
    do {
        /* kernel threads start early, the rest anywhere */
        pid = (uint32_t)(d->style == KERNEL ? 20 + below(rng, 400) : 1000 + below(rng, 3000000));
        last = pid + s->ntasks * (d->processes ? 40 : 1);
    } while (pid_taken(nd, si, pid, last));
    for (unsigned t = 0; t < s->ntasks; t++) {
        struct task *tk = &s->tasks[t];

        tk->pid = d->processes && t ? s->tasks[t - 1].pid + 1 + (uint32_t)below(rng, 39) : pid;
        tk->tid = d->processes ? tk->pid : pid + t;
        if (d->task_name)
            snprintf(tk->name, sizeof(tk->name), d->task_name, t);
        else
            snprintf(tk->name, sizeof(tk->name), "%.15s", d->comm);
    }
}

/* Every node's Pods: the DaemonSets (up to half the Pods), then
 * Deployments' and StatefulSets' replicas drawn by weight; then the
 * host's processes. */
static int fleet_build(struct node *nodes, unsigned nn, unsigned npods, uint64_t seed,
                       const struct code *code, char *err, size_t errlen)
{
    size_t nds = count_kind(DAEMONSET), nhost = count_kind(HOST), next_truth = 0;
    struct fleet_names fn = {0};
    unsigned total_weight = 0;
    uint64_t rng = derive(seed, 2, 0, 0);
    int rc = 0;

    htab_init(&fn.pods);
    for (size_t i = 0; i < NWORKLOADS; i++) {
        total_weight += WORKLOADS[i].weight;
        random_chars(&rng, fn.hashes[i], 10);
    }
    if (nds > npods / 2)
        nds = npods / 2;
    for (unsigned ni = 0; !rc && ni < nn; ni++) {
        struct node *nd = &nodes[ni];

        snprintf(nd->name, sizeof(nd->name), "node-%03u", ni);
        nd->nslots = npods + nhost;
        if (!(nd->slots = calloc(nd->nslots, sizeof(*nd->slots)))) {
            snprintf(err, errlen, "out of memory");
            rc = -ENOMEM;
            break;
        }
        for (size_t si = 0; !rc && si < nd->nslots; si++) {
            struct slot *s = &nd->slots[si];

            if (si < nds) {
                s->wl = nth_of_kind(DAEMONSET, si);
            } else if (si < npods) {
                unsigned r = (unsigned)below(&rng, total_weight);

                for (s->wl = 0; r >= WORKLOADS[s->wl].weight; s->wl++)
                    r -= WORKLOADS[s->wl].weight;
            } else {
                s->wl = nth_of_kind(HOST, si - npods);
            }
            s->factor = 0.6 + 0.8 * unit(&rng);
            s->phase = unit(&rng);
            s->truth = SIZE_MAX;
            if (WORKLOADS[s->wl].kind == HOST) {
                snprintf(s->cgroup, sizeof(s->cgroup), "%s", WORKLOADS[s->wl].cgroup);
            } else {
                rc = make_pod(s, &fn, &rng, code->wl[s->wl].workload_label, err, errlen);
                s->truth = next_truth++;
            }
            make_tasks(nd, si, &rng);
        }
    }
    htab_free(&fn.pods);
    return rc;
}

/* ---- one window of one node ---- */

struct gsample {
    uint32_t slot, task, chain;
    double weight;
    int64_t count;
};

struct gen {
    const struct code *code;
    struct node *nodes;
    unsigned nnodes, windows, interval, npods, stacks;
    uint64_t seed;
    int64_t start_ns;
    /* reused from window to window */
    struct gsample *samples;
    size_t nsamples, samples_cap;
    uint64_t *table_keys; /* (slot, task, chain) + 1; 0: empty */
    uint32_t *table_idx;  /* the sample's index */
    size_t table_cap;
    uint64_t *loc_ids, *func_ids, *map_ids; /* the profile's ids of the code's */
};

/* Finds or adds the sample of (slot, task, chain): the agent merges equal
 * keys, so a window never holds two samples of one stack in one thread. */
static int sample_for(struct gen *g, uint32_t slot, uint32_t task, uint32_t chain, size_t *out)
{
    uint64_t key = ((uint64_t)slot << 44 | (uint64_t)task << 32 | chain) + 1;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 32) & (g->table_cap - 1);

    for (;; i = (i + 1) & (g->table_cap - 1)) {
        if (g->table_keys[i] == key) {
            *out = g->table_idx[i];
            return 0;
        }
        if (!g->table_keys[i])
            break;
    }
    if (g->nsamples * 2 >= g->table_cap ||
        ARRAY_RESERVE_ONE(g->samples, g->nsamples, g->samples_cap))
        return -ENOSPC; /* the table is sized for every sample a window may have */
    g->samples[g->nsamples] = (struct gsample){.slot = slot, .task = task, .chain = chain};
    g->table_keys[i] = key;
    g->table_idx[i] = (uint32_t)g->nsamples;
    *out = g->nsamples++;
    return 0;
}

/* The profile's id for a code mapping, function, location: added at first use. */
static int64_t prof_mapping(struct gen *g, struct pf_profile *p, uint32_t mi)
{
    const struct gmapping *gm = &g->code->maps[mi];
    struct pf_mapping m = {.kind = gm->kind, .has_functions = true};
    int64_t id;

    if (g->map_ids[mi])
        return (int64_t)g->map_ids[mi];
    if (gm->kind == PF_FRAME_USER) {
        /* the collector's: ELF addresses, valid in the whole address space */
        m.limit = UINT64_MAX;
        m.has_filenames = m.has_line_numbers = gm->lines;
        if ((m.build_id = pf_profile_cstring(p, gm->build_id)) < 0)
            return -ENOMEM;
    }
    if ((m.filename = pf_profile_cstring(p, gm->file)) < 0)
        return -ENOMEM;
    if ((id = pf_profile_add_mapping(p, &m)) > 0)
        g->map_ids[mi] = (uint64_t)id;
    return id;
}

static int64_t prof_location(struct gen *g, struct pf_profile *p, uint32_t li)
{
    const struct gloc *gl = &g->code->locs[li];
    const struct gfunc *gf = &g->code->funcs[gl->func];
    struct pf_line line = {.line = gl->line};
    int64_t mid, name, file, fid, id;

    if (g->loc_ids[li])
        return (int64_t)g->loc_ids[li];
    if ((mid = prof_mapping(g, p, gf->map)) < 0)
        return mid;
    if (!g->func_ids[gl->func]) {
        /* as the collector names them: system name = name, start line 0 */
        if ((name = pf_profile_cstring(p, gf->name)) < 0 ||
            (file = pf_profile_cstring(p, gf->file)) < 0)
            return -ENOMEM;
        if ((fid = pf_profile_function(p, name, name, file, 0)) < 0)
            return fid;
        g->func_ids[gl->func] = (uint64_t)fid;
    }
    line.function_id = g->func_ids[gl->func];
    if ((id = pf_profile_add_location(p, (uint64_t)mid, gl->addr, &line, 1)) > 0)
        g->loc_ids[li] = (uint64_t)id;
    return id;
}

static int label(struct pf_profile *p, struct pf_label *l, size_t *n, const char *key,
                 const char *value)
{
    l[*n].key = pf_profile_cstring(p, key);
    l[*n].str = pf_profile_cstring(p, value);
    l[*n].num = l[*n].num_unit = 0;
    if (l[*n].key < 0 || l[*n].str < 0)
        return -ENOMEM;
    (*n)++;
    return 0;
}

static int add_sample(struct gen *g, struct pf_profile *p, const struct node *nd,
                      const struct gsample *gs)
{
    const struct slot *s = &nd->slots[gs->slot];
    const struct workload *w = &g->code->wl[s->wl];
    const struct workload_def *d = w->d;
    const struct chain *ch = &w->chains[gs->chain];
    const struct task *tk = &s->tasks[gs->task];
    uint64_t ids[MAX_DEPTH + 20];
    struct pf_label l[16];
    int64_t values[2] = {gs->count, gs->count * PERIOD_NS};
    char pid[16], tid[16];
    size_t n = 0;
    int rc;

    /* leaf first */
    for (size_t i = 0; i < ch->n; i++) {
        int64_t id = prof_location(g, p, ch->locs[ch->n - 1 - i]);

        if (id < 0)
            return (int)id;
        ids[i] = (uint64_t)id;
    }
    snprintf(pid, sizeof(pid), "%u", tk->pid);
    snprintf(tid, sizeof(tid), "%u", tk->tid);
    if ((rc = label(p, l, &n, "pid", pid)) || (rc = label(p, l, &n, "tid", tid)) ||
        (rc = label(p, l, &n, "comm", d->comm ? d->comm : tk->name)) ||
        (rc = label(p, l, &n, "thread", tk->name)) || (rc = label(p, l, &n, "cgroup", s->cgroup)) ||
        (rc = label(p, l, &n, "node", nd->name)))
        return rc;
    if (s->pod[0] &&
        ((rc = label(p, l, &n, "pod_uid", s->uid)) || (rc = label(p, l, &n, "qos", d->qos)) ||
         (rc = label(p, l, &n, "container_id", s->cid)) || (rc = label(p, l, &n, "pod", s->pod)) ||
         (rc = label(p, l, &n, "namespace", d->ns)) ||
         (rc = label(p, l, &n, "container", d->container)) ||
         (rc = label(p, l, &n, "workload", w->workload_label)) ||
         (rc = label(p, l, &n, "k8s.pod.label.app", s->app)) ||
         /* the API's labels come sorted by key */
         (rc = label(p, l, &n,
                     d->kind == DEPLOYMENT ? "k8s.pod.label.pod-template-hash"
                                           : "k8s.pod.label.controller-revision-hash",
                     s->hash))))
        return rc;
    return pf_profile_add_sample(p, ids, ch->n, values, l, n);
}

/* Which samples a window of node ni has, and their counts: each slot's CPU
 * (its workload's mean, its own share, a two-hour wave and some noise) as
 * samples at 19 Hz, spread over its share of --stacks distinct samples
 * whose weights are skewed twice: early chains are hotter, and each sample
 * draws a heavy-tailed factor. */
static int plan_window(struct gen *g, unsigned ni, unsigned wi)
{
    const struct node *nd = &g->nodes[ni];
    uint64_t rng = derive(g->seed, 3, ni, wi);
    double load[64], total = 0, t = (double)g->start_ns / 1e9 + (double)wi * g->interval;
    int rc;

    g->nsamples = 0;
    memset(g->table_keys, 0, g->table_cap * sizeof(*g->table_keys));
    for (size_t si = 0; si < nd->nslots; si++) {
        const struct slot *s = &nd->slots[si];

        load[si] = WORKLOADS[s->wl].millicores * s->factor *
                   (1 + 0.3 * sin(2 * M_PI * (t / 7200 + s->phase))) * (0.9 + 0.2 * unit(&rng));
        total += load[si];
    }
    for (size_t si = 0; si < nd->nslots; si++) {
        const struct slot *s = &nd->slots[si];
        const struct workload *w = &g->code->wl[s->wl];
        int64_t want = llround(load[si] / 1000 * FREQ_HZ * g->interval), left;
        size_t first = g->nsamples, k = (size_t)llround(g->stacks * load[si] / total);
        double sum = 0;

        if (want < 1)
            want = 1;
        if (k < 1)
            k = 1;
        if ((int64_t)k > want)
            k = (size_t)want;
        for (size_t tries = 0; g->nsamples - first < k && tries < 4 * k; tries++) {
            double uc = unit(&rng), ut = unit(&rng);
            uint32_t chain = (uint32_t)(w->nchains * uc * uc);
            uint32_t task = (uint32_t)(s->ntasks * pow(ut, 1.5));
            size_t idx;

            if ((rc = sample_for(g, (uint32_t)si, task, chain, &idx)))
                return rc;
            g->samples[idx].weight +=
                fmin(50, pow(1 - unit(&rng), -0.7)) / sqrt(1.0 + (double)chain);
        }
        for (size_t i = first; i < g->nsamples; i++)
            sum += g->samples[i].weight;
        /* one each, the rest by weight */
        left = want - (int64_t)(g->nsamples - first);
        for (size_t i = first; i < g->nsamples; i++)
            g->samples[i].count = 1 + (int64_t)floor((double)left * g->samples[i].weight / sum);
    }
    /* the agent's samples come in no particular order: neither do these */
    for (size_t i = g->nsamples; i > 1; i--) {
        size_t j = (size_t)below(&rng, i);
        struct gsample tmp = g->samples[i - 1];

        g->samples[i - 1] = g->samples[j];
        g->samples[j] = tmp;
    }
    return 0;
}

static int build_profile(struct gen *g, unsigned ni, int64_t start_ns, struct pf_profile **out)
{
    static const char *const first_keys[] = {"pid", "tid", "comm", "thread", "cgroup"};
    const struct node *nd = &g->nodes[ni];
    struct pf_profile *p;
    char comment[300];
    int rc;

    if ((rc = pf_profile_new(&p)))
        return rc;
    /* what new_window_profile and the collector put first, in their order */
    snprintf(comment, sizeof(comment), "podflame agent on %s", nd->name);
    if ((rc = pf_profile_set_cpu_types(p, PERIOD_NS)) || (rc = pf_profile_add_comment(p, comment)))
        goto fail;
    for (size_t i = 0; i < sizeof(first_keys) / sizeof(*first_keys); i++) {
        if (pf_profile_cstring(p, first_keys[i]) < 0) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    p->time_nanos = start_ns;
    p->duration_nanos = (int64_t)g->interval * 1000000000LL;
    memset(g->loc_ids, 0, g->code->nlocs * sizeof(*g->loc_ids));
    memset(g->func_ids, 0, g->code->nfuncs * sizeof(*g->func_ids));
    memset(g->map_ids, 0, g->code->nmaps * sizeof(*g->map_ids));
    for (size_t i = 0; i < g->nsamples; i++) {
        if ((rc = add_sample(g, p, nd, &g->samples[i])))
            goto fail;
    }
    *out = p;
    return 0;
fail:
    pf_profile_free(p);
    return rc;
}

/* ---- output: objects as the agent's uploader puts them, and the truth ---- */

struct out {
    struct bucket *b;
    uint64_t objects, bytes;
    double t0;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int put(struct out *o, const char *key, const void *data, size_t len, const char *type,
               char *err, size_t errlen)
{
    char why[1024];
    int rc = bucket_put(o->b, key, data, len, type, why, sizeof(why));

    if (rc) {
        snprintf(err, errlen, "putting %s to %s: %s", key, bucket_where(o->b), why);
        return rc;
    }
    o->objects++;
    o->bytes += len;
    if (o->objects % 1000 == 0)
        fprintf(stderr, "fleet_gen: %" PRIu64 " objects, %.1f MB, %.1f s\n", o->objects,
                o->bytes / 1e6, now_s() - o->t0);
    return 0;
}

/* The window's profile and its index line, as spool_object and upload_item
 * write them: KEY.pb.gz, then KEY.json holding the line and a newline. The
 * agent without --label passes no labels. */
static int put_window(struct out *o, const char *node, const struct window *w,
                      const struct pf_profile *p, char *key, size_t keylen, char *err,
                      size_t errlen)
{
    char ikey[1600], *data = NULL, *line = NULL, *body = NULL;
    size_t len = 0, ilen;
    int rc;

    snprintf(key, keylen, "%s/%s.pb.gz", w->dir, w->stem);
    if ((rc = pprof_write_buffer(p, &data, &len)) ||
        (rc = window_index_line(w, node, key, p, len, NULL, 0, NULL, NULL, &line))) {
        snprintf(err, errlen, "encoding %s: %s", key, strerror(-rc));
        goto out;
    }
    snprintf(ikey, sizeof(ikey), "%s/%s.json", w->dir, w->stem);
    ilen = strlen(line);
    if (!(body = malloc(ilen + 1))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    memcpy(body, line, ilen);
    body[ilen] = '\n';
    if (!(rc = put(o, key, data, len, "application/octet-stream", err, errlen)))
        rc = put(o, ikey, body, ilen + 1, "application/json", err, errlen);
out:
    free(body);
    free(line);
    free(data);
    return rc;
}

struct truth {
    /* opened first, so that a bad path fails before the bucket is written;
     * a regular file is replaced atomically, a device or FIFO written */
    struct output_target target;
    bool open;
    json_t *windows;
    uint64_t samples, host, *nodes, *pods, *workloads;
};

static int set_int(json_t *o, const char *key, uint64_t v)
{
    return json_object_set_new(o, key, json_integer((json_int_t)v)) ? -ENOMEM : 0;
}

static int add_int(json_t *o, const char *key, uint64_t v)
{
    json_t *old = json_object_get(o, key);

    return set_int(o, key, (old ? (uint64_t)json_integer_value(old) : 0) + v);
}

static void rfc3339(int64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Counts the planned samples into the truth: the window's, and the totals. */
static int truth_window(struct truth *tr, const struct gen *g, unsigned ni, int64_t start_ns,
                        const char *key)
{
    const struct node *nd = &g->nodes[ni];
    uint64_t per_slot[64] = {0}, all = 0, host = 0;
    json_t *win = json_object(), *pods = json_object();
    char start[40], name[200];
    int rc = -ENOMEM;

    for (size_t i = 0; i < g->nsamples; i++)
        per_slot[g->samples[i].slot] += (uint64_t)g->samples[i].count;
    if (!win || !pods)
        goto out;
    rc = 0;
    for (size_t si = 0; !rc && si < nd->nslots; si++) {
        const struct slot *s = &nd->slots[si];

        all += per_slot[si];
        if (!s->pod[0]) {
            host += per_slot[si];
            continue;
        }
        if (!per_slot[si])
            continue;
        snprintf(name, sizeof(name), "%s/%s", WORKLOADS[s->wl].ns, s->pod);
        rc = set_int(pods, name, per_slot[si]);
        tr->pods[s->truth] += per_slot[si];
        tr->workloads[s->wl] += per_slot[si];
    }
    rfc3339(start_ns, start, sizeof(start));
    if (rc || json_object_set_new(win, "node", json_string(nd->name)) ||
        json_object_set_new(win, "start", json_string(start)) || set_int(win, "samples", all) ||
        set_int(win, "host", host) || json_object_set(win, "pods", pods) ||
        json_object_set(tr->windows, key, win)) {
        rc = -ENOMEM;
        goto out;
    }
    tr->samples += all;
    tr->host += host;
    tr->nodes[ni] += all;
out:
    json_decref(win);
    json_decref(pods);
    return rc;
}

static int write_json(FILE *f, void *ctx)
{
    return json_dumpf(ctx, f, JSON_INDENT(1)) || fputc('\n', f) == EOF ? -EIO : 0;
}

static int truth_write(struct truth *tr, const struct gen *g, char *err, size_t errlen)
{
    json_t *root = json_object(), *params = json_object(), *totals = json_object();
    json_t *nodes = json_object(), *ns = json_object(), *wls = json_object();
    json_t *ctrs = json_object(), *pods = json_object(), *info = json_object();
    char start[40], name[200];
    int rc = -ENOMEM;

    if (!root || !params || !totals || !nodes || !ns || !wls || !ctrs || !pods || !info)
        goto out;
    rfc3339(g->start_ns, start, sizeof(start));
    if (json_object_set_new(root, "generator", json_string("fleet_gen")) ||
        set_int(root, "version", 1) || set_int(params, "nodes", g->nnodes) ||
        set_int(params, "windows", g->windows) ||
        json_object_set_new(params, "start", json_string(start)) ||
        set_int(params, "interval", g->interval) || set_int(params, "pods", g->npods) ||
        set_int(params, "stacks", g->stacks) || set_int(params, "seed", g->seed) ||
        set_int(params, "period_ns", PERIOD_NS))
        goto out;
    for (unsigned ni = 0; ni < g->nnodes; ni++) {
        const struct node *nd = &g->nodes[ni];

        if (set_int(nodes, nd->name, tr->nodes[ni]))
            goto out;
        for (size_t si = 0; si < nd->nslots; si++) {
            const struct slot *s = &nd->slots[si];
            const struct workload_def *d = &WORKLOADS[s->wl];

            if (!s->pod[0])
                continue;
            snprintf(name, sizeof(name), "%s/%s", d->ns, s->pod);
            if (set_int(pods, name, tr->pods[s->truth]) ||
                json_object_set_new(info, name,
                                    json_pack("{s:s, s:s, s:s, s:s, s:s}", "node", nd->name,
                                              "workload", g->code->wl[s->wl].workload_label,
                                              "container", d->container, "pod_uid", s->uid, "app",
                                              s->app)))
                goto out;
        }
    }
    for (size_t i = 0; i < NWORKLOADS; i++) {
        const struct workload_def *d = &WORKLOADS[i];

        if (d->kind == HOST || !tr->workloads[i])
            continue; /* none of its Pods runs in this fleet */
        snprintf(name, sizeof(name), "%s/%s", d->ns, g->code->wl[i].workload_label);
        if (add_int(wls, name, tr->workloads[i]) || add_int(ns, d->ns, tr->workloads[i]))
            goto out;
        snprintf(name, sizeof(name), "%s/%s", d->ns, d->container);
        if (add_int(ctrs, name, tr->workloads[i]))
            goto out;
    }
    if (set_int(totals, "samples", tr->samples) || set_int(totals, "host", tr->host) ||
        json_object_set(totals, "nodes", nodes) || json_object_set(totals, "namespaces", ns) ||
        json_object_set(totals, "workloads", wls) || json_object_set(totals, "containers", ctrs) ||
        json_object_set(totals, "pods", pods) || json_object_set(root, "params", params) ||
        json_object_set(root, "windows", tr->windows) || json_object_set(root, "totals", totals) ||
        json_object_set(root, "pod_info", info))
        goto out;
    rc = output_commit(&tr->target, write_json, root, false, err, errlen);
    goto done;
    rc = 0;
    goto done;
out:
    snprintf(err, errlen, "out of memory");
done:
    json_decref(root);
    json_decref(params);
    json_decref(totals);
    json_decref(nodes);
    json_decref(ns);
    json_decref(wls);
    json_decref(ctrs);
    json_decref(pods);
    json_decref(info);
    return rc;
}

/* ---- the command ---- */

struct args {
    const char *output, *truth, *s3_endpoint, *s3_region;
    unsigned nodes, windows, interval, pods, stacks;
    uint64_t seed;
    int64_t start_ns;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: fleet_gen --output URL --nodes N --windows W --start YYYY-MM-DDTHH:MM:SSZ\n"
               "                 [--interval 60] [--pods 8] [--stacks 300] [--seed 1] [--truth "
               "FILE]\n"
               "                 [--s3-endpoint URL] [--s3-region R]\n");
}

static int parse_uint(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                      char *err, size_t errlen)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < min || v > max) {
        snprintf(err, errlen, "--%s takes a whole number from %" PRIu64 " to %" PRIu64 ", not '%s'",
                 opt, min, max, s);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a, char *err, size_t errlen)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"nodes", required_argument, NULL, 'n'},
        {"windows", required_argument, NULL, 'w'},
        {"start", required_argument, NULL, 's'},
        {"interval", required_argument, NULL, 'i'},
        {"pods", required_argument, NULL, 'p'},
        {"stacks", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 'S'},
        {"truth", required_argument, NULL, 't'},
        {"s3-endpoint", required_argument, NULL, 'e'},
        {"s3-region", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *start = NULL;
    uint64_t v;
    int c, rc = 0;

    *a = (struct args){.interval = 60, .pods = 8, .stacks = 300, .seed = 1};
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            a->output = optarg;
            break;
        case 'n':
            if (!(rc = parse_uint("nodes", optarg, 1, 1000000, &v, err, errlen)))
                a->nodes = (unsigned)v;
            break;
        case 'w':
            if (!(rc = parse_uint("windows", optarg, 1, 10000000, &v, err, errlen)))
                a->windows = (unsigned)v;
            break;
        case 's':
            start = optarg;
            break;
        case 'i':
            if (!(rc = parse_uint("interval", optarg, 1, 86400, &v, err, errlen)))
                a->interval = (unsigned)v;
            break;
        case 'p':
            /* a node's Pods and host processes share a 64-entry table */
            if (!(rc = parse_uint("pods", optarg, 1, 60, &v, err, errlen)))
                a->pods = (unsigned)v;
            break;
        case 'k':
            if (!(rc = parse_uint("stacks", optarg, 1, 1000000, &v, err, errlen)))
                a->stacks = (unsigned)v;
            break;
        case 'S':
            rc = parse_uint("seed", optarg, 0, UINT64_MAX, &a->seed, err, errlen);
            break;
        case 't':
            a->truth = optarg;
            break;
        case 'e':
            a->s3_endpoint = optarg;
            break;
        case 'r':
            a->s3_region = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            snprintf(err, errlen, "unknown option or missing value: %s (--help lists them)",
                     argv[optind - 1]);
            return -EINVAL;
        }
    }
    if (rc)
        return rc;
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    if (!a->output || !a->nodes || !a->windows || !start) {
        snprintf(err, errlen, "--output, --nodes, --windows and --start are required");
        return -EINVAL;
    }
    {
        struct tm tm = {0};
        const char *end = strptime(start, "%Y-%m-%dT%H:%M:%SZ", &tm);
        time_t t;

        if (!end || *end || (t = timegm(&tm)) == (time_t)-1) {
            snprintf(err, errlen, "--start takes a UTC time like 2026-11-28T10:00:00Z, not '%s'",
                     start);
            return -EINVAL;
        }
        /* the agent's windows end on multiples of the interval */
        if (t % a->interval) {
            snprintf(err, errlen, "--start %s is not on a multiple of --interval %u s", start,
                     a->interval);
            return -EINVAL;
        }
        a->start_ns = (int64_t)t * 1000000000LL;
    }
    return 0;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;

    while (p < n)
        p <<= 1;
    return p;
}

static int gen_init(struct gen *g, const struct code *code, const struct args *a, char *err,
                    size_t errlen)
{
    size_t nslots = a->pods + count_kind(HOST);

    memset(g, 0, sizeof(*g));
    g->code = code;
    g->nnodes = a->nodes;
    g->windows = a->windows;
    g->interval = a->interval;
    g->npods = a->pods;
    g->stacks = a->stacks;
    g->seed = a->seed;
    g->start_ns = a->start_ns;
    /* a window's samples: --stacks, plus one per slot for rounding up */
    g->table_cap = pow2_at_least(4 * ((size_t)a->stacks + 2 * nslots + 16));
    g->table_keys = calloc(g->table_cap, sizeof(*g->table_keys));
    g->table_idx = calloc(g->table_cap, sizeof(*g->table_idx));
    g->loc_ids = calloc(code->nlocs, sizeof(*g->loc_ids));
    g->func_ids = calloc(code->nfuncs, sizeof(*g->func_ids));
    g->map_ids = calloc(code->nmaps, sizeof(*g->map_ids));
    g->nodes = calloc(a->nodes, sizeof(*g->nodes));
    if (!g->table_keys || !g->table_idx || !g->loc_ids || !g->func_ids || !g->map_ids ||
        !g->nodes) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return fleet_build(g->nodes, a->nodes, a->pods, a->seed, code, err, errlen);
}

static void gen_free(struct gen *g)
{
    for (unsigned i = 0; g->nodes && i < g->nnodes; i++)
        free(g->nodes[i].slots);
    free(g->nodes);
    free(g->samples);
    free(g->table_keys);
    free(g->table_idx);
    free(g->loc_ids);
    free(g->func_ids);
    free(g->map_ids);
}

/* Every window of every node, in time order as a fleet uploads them. */
static int generate(struct gen *g, struct out *o, struct truth *tr, char *err, size_t errlen)
{
    for (unsigned wi = 0; wi < g->windows; wi++) {
        int64_t start = g->start_ns + (int64_t)wi * g->interval * 1000000000LL;

        for (unsigned ni = 0; ni < g->nnodes; ni++) {
            struct pf_profile *p = NULL;
            struct window w;
            char key[1600];
            int rc;

            if ((rc = plan_window(g, ni, wi)) || (rc = build_profile(g, ni, start, &p))) {
                snprintf(err, errlen, "building window %u of %s: %s", wi, g->nodes[ni].name,
                         strerror(-rc));
                return rc;
            }
            window_begin(&w, g->nodes[ni].name, start, g->interval);
            window_end(&w, start + (int64_t)g->interval * 1000000000LL);
            rc = put_window(o, g->nodes[ni].name, &w, p, key, sizeof(key), err, errlen);
            pf_profile_free(p);
            if (!rc && tr && (rc = truth_window(tr, g, ni, start, key)))
                snprintf(err, errlen, "out of memory");
            if (rc)
                return rc;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct args a;
    struct code code = {0};
    struct gen g = {0};
    struct truth tr = {0}, *trp = NULL;
    struct out o = {0};
    struct bucket_config bc = {.s3_path_style = -1};
    char err[2048];
    size_t npods_total;
    int rc;

    if (parse_args(argc, argv, &a, err, sizeof(err))) {
        fprintf(stderr, "fleet_gen: %s\n", err);
        return 2;
    }
    o.t0 = now_s();
    if ((rc = code_build(&code, a.seed, a.stacks))) {
        snprintf(err, sizeof(err), "building the fleet's code: %s", strerror(-rc));
        goto out;
    }
    if ((rc = gen_init(&g, &code, &a, err, sizeof(err))))
        goto out;
    npods_total = (size_t)a.nodes * a.pods;
    if (a.truth) {
        trp = &tr;
        tr.open = true;
        if ((rc = output_open(a.truth, 0644, &tr.target, err, sizeof(err))))
            goto out;
        tr.windows = json_object();
        tr.nodes = calloc(a.nodes, sizeof(*tr.nodes));
        tr.pods = calloc(npods_total, sizeof(*tr.pods));
        tr.workloads = calloc(NWORKLOADS, sizeof(*tr.workloads));
        if (!tr.windows || !tr.nodes || !tr.pods || !tr.workloads) {
            snprintf(err, sizeof(err), "out of memory");
            rc = -ENOMEM;
            goto out;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        snprintf(err, sizeof(err), "cannot initialize libcurl");
        rc = -ENOMEM;
        goto out;
    }
    bc.url = a.output;
    bc.s3_endpoint = a.s3_endpoint;
    bc.s3_region = a.s3_region;
    if (!(rc = bucket_open(&bc, &o.b, err, sizeof(err)))) {
        rc = generate(&g, &o, trp, err, sizeof(err));
        bucket_close(o.b);
    }
    curl_global_cleanup();
    if (!rc && trp)
        rc = truth_write(trp, &g, err, sizeof(err));
    if (!rc)
        fprintf(stderr, "fleet_gen: %" PRIu64 " objects, %" PRIu64 " bytes in %.1f s\n", o.objects,
                o.bytes, now_s() - o.t0);
out:
    if (rc)
        fprintf(stderr, "fleet_gen: %s\n", err);
    if (tr.open)
        output_close(&tr.target);
    json_decref(tr.windows);
    free(tr.nodes);
    free(tr.pods);
    free(tr.workloads);
    gen_free(&g);
    code_free(&code);
    return rc ? 1 : 0;
}
