// lumen: start, stop and inspect Lumen clusters (Ray's `ray start`, `ray
// stop`, `ray status`). Parsing only; the verbs are in start.cc and
// stop_status.cc.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "base/settings.h"
#include "cli/commands.h"

namespace {

// One line for a bad flag or value, whatever CLI11 would print (it adds a
// hint line): scripts read the first line.
std::string OneLine(std::string text) {
  for (char &c : text)
    if (c == '\n') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// `lumen job submit|status|logs|stop|list|delete` (Ray's Jobs CLI).
struct JobVerbs {
  CLI::App *submit, *status, *logs, *stop, *list, *remove;
  /// The exit status of the verb that was parsed; -1 if none was.
  int RunParsed(const lumen::cli::JobFlags &job) const {
    if (submit->parsed()) return lumen::cli::RunJobSubmit(job);
    if (status->parsed()) return lumen::cli::RunJobStatus(job);
    if (logs->parsed()) return lumen::cli::RunJobLogs(job);
    if (stop->parsed()) return lumen::cli::RunJobStop(job);
    if (list->parsed()) return lumen::cli::RunJobList(job);
    if (remove->parsed()) return lumen::cli::RunJobDelete(job);
    return -1;
  }
};

JobVerbs AddJobVerbs(CLI::App &app, lumen::cli::JobFlags &job) {
  CLI::App *job_cmd =
      app.add_subcommand("job", "Submit, inspect and stop jobs: commands the head runs (Ray's ray job)");
  job_cmd->require_subcommand(1);
  auto job_target = [&job](CLI::App *cmd) {
    cmd->add_option("--address", job.address,
                    "HOST:PORT of the cluster (default: RAY_ADDRESS, else the one started here), or the "
                    "dashboard's http://HOST:PORT");
    cmd->add_option("--token", job.token, "the cluster's token (as for start)");
  };
  CLI::App *job_submit = job_cmd->add_subcommand(
      "submit",
      "Run a command on the head as a job: lumen job submit [options] -- COMMAND [ARGS...] (no shell)");
  job_target(job_submit);
  job_submit->add_option("--working-dir", job.working_dir,
                         "a local folder, zipped and uploaded for the job to run in (or a gcs:// package "
                         "URI; default: the head's session folder)");
  job_submit->add_option(
      "--runtime-env-json", job.runtime_env_json,
      "runtime_env as JSON: {\"working_dir\": ..., \"excludes\": [...], \"env_vars\": {...}}");
  job_submit
      ->add_option("--runtime-env", job.runtime_env_file,
                   "runtime_env as a YAML file (its values read as strings)")
      ->excludes("--runtime-env-json");
  job_submit->add_option("--metadata-json", job.metadata_json, "metadata as a JSON object of strings");
  job_submit->add_option("--submission-id", job.submission_id, "the job's id (default: raysubmit_<random>)");
  job_submit->add_flag("--no-wait", job.no_wait, "return once submitted instead of following its log");
  job_submit->add_option("entrypoint", job.entrypoint, "the command and its arguments, after --")
      ->expected(-1);
  CLI::App *job_status = job_cmd->add_subcommand("status", "A job's status and its message");
  CLI::App *job_logs = job_cmd->add_subcommand("logs", "A job's output (stdout and stderr)");
  job_logs->add_flag("-f,--follow", job.follow, "keep printing what it writes until it ends");
  CLI::App *job_stop =
      job_cmd->add_subcommand("stop", "Stop a job: SIGTERM to its process group, then SIGKILL");
  job_stop->add_flag("--no-wait", job.no_wait, "return without waiting for it to end");
  CLI::App *job_delete =
      job_cmd->add_subcommand("delete", "Forget a job that has ended (its log file stays)");
  for (CLI::App *cmd : {job_status, job_logs, job_stop, job_delete}) {
    job_target(cmd);
    cmd->add_option("id", job.id, "the job's submission id")->required();
  }
  CLI::App *job_list = job_cmd->add_subcommand("list", "Every job the head knows of");
  job_target(job_list);
  job_list->add_option("--format", job.format, "table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));
  return {job_submit, job_status, job_logs, job_stop, job_list, job_delete};
}

// `lumen logs`, `lumen timeline`, `lumen memory` (Ray's `ray logs|timeline|memory`).
struct ObserveVerbs {
  CLI::App *logs, *timeline, *memory;
  /// The exit status of the verb that was parsed; -1 if none was.
  int RunParsed(const lumen::cli::ObserveFlags &observe) const {
    if (logs->parsed()) return lumen::cli::RunLogs(observe);
    if (timeline->parsed()) return lumen::cli::RunTimeline(observe);
    if (memory->parsed()) return lumen::cli::RunMemory(observe);
    return -1;
  }
};

ObserveVerbs AddObserveVerbs(CLI::App &app, lumen::cli::ObserveFlags &observe) {
  auto observe_target = [&observe](CLI::App *cmd) {
    cmd->add_option("--address", observe.address,
                    "HOST:PORT of the cluster (default: RAY_ADDRESS, else the one started here)");
    cmd->add_option("--token", observe.token, "the cluster's token (as for start)");
  };
  CLI::App *logs_cmd =
      app.add_subcommand("logs", "List the cluster's log files, or print one (its last lines, or follow it)");
  observe_target(logs_cmd);
  logs_cmd->add_option("filename", observe.filename, "a log file (or part of its name); none: list them all");
  logs_cmd->add_option("--tail", observe.tail, "lines from its end (-1: all)")->capture_default_str();
  logs_cmd->add_flag("-f,--follow", observe.follow, "keep printing what is appended");
  logs_cmd->add_option(
      "--node-id", observe.node_id,
      "one node's files (its hex id; default: every node's, the head's where a name is on several)");
  CLI::App *timeline_cmd =
      app.add_subcommand("timeline", "Write the task timeline as Chrome trace JSON (open it in Perfetto)");
  observe_target(timeline_cmd);
  timeline_cmd->add_option("--output", observe.output, "the file to write (default: one in the temp folder)");
  timeline_cmd->add_option("--job-id", observe.job_id, "one job's tasks only (its hex id)");
  CLI::App *memory_cmd =
      app.add_subcommand("memory", "Objects in the cluster's stores, per node (or owner), with their sizes");
  observe_target(memory_cmd);
  memory_cmd->add_option("--group-by", observe.group_by, "NODE_ADDRESS or OWNER")
      ->check(CLI::IsMember({"NODE_ADDRESS", "OWNER"}))
      ->capture_default_str();
  memory_cmd->add_option("--sort-by", observe.sort_by, "OBJECT_SIZE, PID or REFERENCE_TYPE")
      ->check(CLI::IsMember({"OBJECT_SIZE", "PID", "REFERENCE_TYPE"}))
      ->capture_default_str();
  memory_cmd->add_option("--units", observe.units, "B, KB, MB or GB")
      ->check(CLI::IsMember({"B", "KB", "MB", "GB"}))
      ->capture_default_str();
  memory_cmd->add_flag("--stats-only", observe.stats_only, "the summaries only");
  memory_cmd->add_option("--num-entries", observe.num_entries, "objects shown per group (default: all)");
  return {logs_cmd, timeline_cmd, memory_cmd};
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"lumen: start, stop and inspect Lumen clusters (Ray's `ray start/stop/status`)", "lumen"};
  app.set_version_flag("--version", std::string("lumen ") + LUMEN_VERSION);
  app.require_subcommand(1);

  // As Ray's CLI: a repeated option's last value wins.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  lumen::cli::StartFlags start;
  CLI::App *start_cmd = app.add_subcommand(
      "start",
      "Start the services of a cluster on this machine: a head (--head) or a node joining one (--address)");
  start_cmd->add_flag("--head", start.head, "start the control service and a node service");
  start_cmd->add_option("--address", start.address, "HOST:PORT of the cluster's control service to join");
  start_cmd->add_option(
      "--token", start.token,
      "the cluster's token (default: LUMEN_TOKEN, or found when the head is on this machine)");
  start_cmd->add_option("--port", start.port, "the head's control service TCP port (0: any free one)")
      ->capture_default_str();
  start_cmd->add_option("--num-cpus", start.num_cpus, "CPUs this node offers (default: all cores)");
  start_cmd->add_option("--num-gpus", start.num_gpus, "GPUs this node offers (default: detected)");
  start_cmd->add_option("--resources", start.resources, "custom resources, a JSON object: '{\"disk\": 2}'");
  start_cmd->add_option("--object-store-memory", start.object_store_memory,
                        "bytes of the node's object store (default: 30% of memory)");
  start_cmd->add_option("--node-ip-address", start.node_ip_address,
                        "address to listen on (default: 127.0.0.1, reachable from this machine only)");
  start_cmd->add_option("--temp-dir", start.temp_dir,
                        "folder for this start's session (logs, sockets, token)");
  start_cmd->add_flag("--block", start.block, "stay in the foreground; SIGINT/SIGTERM stop the services");
  start_cmd
      ->add_option("--include-dashboard", start.include_dashboard,
                   "start the dashboard (the state API over HTTP) with the head")
      ->capture_default_str();
  start_cmd->add_option("--dashboard-host", start.dashboard_host, "address the dashboard listens on")
      ->capture_default_str();
  start_cmd
      ->add_option(
          "--dashboard-port", start.dashboard_port,
          "the dashboard's port (0: any free one; default: 8265, or any free one when 8265 is taken)")
      ->check(CLI::Range(0, 65535));
  start_cmd->get_option("--head")->excludes("--address");

  std::string stop_temp_dir;
  bool force = false;
  CLI::App *stop_cmd = app.add_subcommand("stop", "Stop what `lumen start` started on this machine");
  stop_cmd->add_option("--temp-dir", stop_temp_dir, "stop only the services started with this --temp-dir");
  stop_cmd->add_flag("-f,--force", force, "SIGKILL at once instead of SIGTERM");

  std::string status_address, status_token;
  CLI::App *status_cmd = app.add_subcommand("status", "Nodes, resource use and pending demands of a cluster");
  status_cmd->add_option("--address", status_address,
                         "HOST:PORT of the cluster (default: RAY_ADDRESS, else the one started here)");
  status_cmd->add_option("--token", status_token, "the cluster's token (as for start)");

  // Ray's state CLI, on the dashboard's state API.
  lumen::cli::ListFlags list, get;
  auto state_options = [](CLI::App *cmd, lumen::cli::ListFlags &flags) {
    cmd->add_option("resource", flags.resource,
                    "nodes, actors, jobs, placement-groups, tasks, workers or objects")
        ->required();
    cmd->add_option("--address", flags.address,
                    "HOST:PORT of the cluster (default: RAY_ADDRESS, else the one started here)");
    cmd->add_option("--token", flags.token, "the cluster's token (as for start)");
  };
  CLI::App *list_cmd = app.add_subcommand(
      "list", "List the cluster's nodes, actors, jobs, placement groups, tasks, workers or objects");
  state_options(list_cmd, list);
  list_cmd->add_option("-f,--filter", list.filters, "KEY=VALUE or KEY!=VALUE; repeat to AND them")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  list_cmd->add_option("--limit", list.limit, "rows to show (1 to 10000)")->capture_default_str();
  list_cmd->add_flag("--detail", list.detail, "every field (YAML unless --format says otherwise)");
  list_cmd->add_option("--format", list.format, "table (default), json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  CLI::App *get_cmd = app.add_subcommand(
      "get", "Show one node, actor, job, placement group or task (each attempt), every field");
  state_options(get_cmd, get);
  get_cmd->add_option("id", get.id, "its id (hex)")->required();
  get_cmd->add_option("--format", get.format, "yaml (default) or json")
      ->check(CLI::IsMember({"yaml", "json"}));
  lumen::cli::ListFlags summary;
  CLI::App *summary_cmd =
      app.add_subcommand("summary", "Tasks counted by function and state (Ray's ray summary)");
  summary_cmd->add_option("resource", summary.resource, "tasks")->required()->check(CLI::IsMember({"tasks"}));
  summary_cmd->add_option("--address", summary.address,
                          "HOST:PORT of the cluster (default: RAY_ADDRESS, else the one started here)");
  summary_cmd->add_option("--token", summary.token, "the cluster's token (as for start)");
  summary_cmd->add_option("-f,--filter", summary.filters, "KEY=VALUE or KEY!=VALUE; count only those tasks")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  summary_cmd->add_option("--format", summary.format, "table (default), json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));

  lumen::cli::JobFlags job;
  const JobVerbs jobs = AddJobVerbs(app, job);
  lumen::cli::ObserveFlags observe;
  const ObserveVerbs observing = AddObserveVerbs(app, observe);

  if (argc > 1 && argv[1][0] != '-') {  // CLI11 would only say that a command is missing
    const std::string verb = argv[1];
    if (verb != "start" && verb != "stop" && verb != "status" && verb != "list" && verb != "get" &&
        verb != "summary" && verb != "job" && verb != "logs" && verb != "timeline" && verb != "memory") {
      std::cerr
          << "lumen: error: unknown command '" << verb
          << "' (commands: start, stop, status, list, get, summary, job, logs, timeline, memory; see lumen "
             "--help)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    std::string verb = "lumen";
    for (CLI::App *sub : app.get_subcommands()) verb += " " + sub->get_name();
    std::cerr << verb << ": error: " << OneLine(e.what()) << " (see " << verb << " --help)\n";
    return 2;
  }
  // Each verb says what went wrong in one line of its own; the runtime's
  // log lines (a refused handshake, ...) would only repeat it.
  spdlog::set_level(spdlog::level::off);
  if (start_cmd->parsed()) {
    if (!start.head && start.address.empty())
      return lumen::cli::Fail("start", "give --head to start a cluster, or --address=HOST:PORT to join one",
                              2);
    return lumen::cli::RunStart(start);
  }
  if (stop_cmd->parsed()) return lumen::cli::RunStop(stop_temp_dir, force);
  if (list_cmd->parsed()) return lumen::cli::RunList(list);
  if (get_cmd->parsed()) return lumen::cli::RunGet(get);
  if (summary_cmd->parsed()) return lumen::cli::RunSummary(summary);
  if (int rc = jobs.RunParsed(job); rc >= 0) return rc;
  if (int rc = observing.RunParsed(observe); rc >= 0) return rc;
  return lumen::cli::RunStatus(status_address, status_token);
}
