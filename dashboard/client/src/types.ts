// The state API's rows, as far as the pages read them (Ray's field names).

export interface NodeRow {
  node_id: string;
  node_ip: string;
  is_head_node: boolean;
  is_driver_node?: boolean; // a driver's own node, on a machine with no other of the cluster's
  state: string;
  resources_total: Record<string, number>;
  resources_available?: Record<string, number>;
  start_time_ms: number;
  pid: number;
}

export interface WorkerRow {
  worker_id: string;
  is_alive: boolean;
  worker_type: 'DRIVER' | 'WORKER';
  pid: number;
  job_id: string;
  node_id: string;
  ip: string;
  is_actor?: boolean;
  is_leased?: boolean;
}

/** /api/v0/node_processes (a Lumen extension): each process's CPU and memory. */
export interface ProcessRow {
  node_id: string;
  node_ip: string;
  pid: number;
  component: string;
  cpu_percent: number;
  rss_bytes: number;
  uss_bytes: number;
  shared_bytes: number;
}

export interface ActorRow {
  actor_id: string;
  class_name: string;
  state: string;
  job_id: string;
  name: string;
  node_id: string | null;
  pid: number | null;
  ray_namespace: string;
  is_detached: boolean;
  num_restarts: number;
  max_restarts: number;
  death_cause: string | null;
  worker_id: string | null;
  events: ActorEvent[];
  num_events_dropped: number;
}

/** A state an actor entered: when, where its worker was, and why (DEAD, RESTARTING). */
export interface ActorEvent {
  state: string;
  created_ms: number;
  node_id: string | null;
  worker_id: string | null;
  pid: number | null;
  cause: string | null;
}

export interface TaskRow {
  task_id: string;
  attempt_number: number;
  name: string;
  state: string;
  job_id: string;
  actor_id: string | null;
  type: string;
  func_or_class_name: string;
  node_id: string | null;
  worker_id: string | null;
  worker_pid: number | null;
  error_type: string | null;
  error_message: string | null;
  creation_time_ms: number | null;
  start_time_ms: number | null;
  end_time_ms: number | null;
}

export interface JobRow {
  job_id: string;
  submission_id: string | null;
  type: string;
  status: string;
  start_time: number;
  end_time: number | null;
  driver_info?: { pid?: string; address?: string };
  ray_namespace?: string;
}

export interface ObjectRow {
  object_id: string;
  object_size: number;
  task_status: string;
  reference_type: string;
  type: string;
  pid: number | null;
  ip: string;
  node_id: string;
  owner_worker_id: string;
  pins: number;
}

/** Ray's JobDetails (GET /api/jobs/). */
export interface JobDetails {
  type: string;
  job_id: string | null;
  submission_id: string | null;
  status: string;
  entrypoint: string;
  message?: string | null;
  error_type?: string | null;
  start_time?: number | null;
  end_time?: number | null;
  driver_exit_code?: number | null;
  driver_info?: { id?: string; node_ip_address?: string; pid?: string } | null;
}
