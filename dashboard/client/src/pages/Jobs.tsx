// Jobs: the submitted ones from Ray's Jobs API (/api/jobs/, with their logs),
// and every driver's job from the state API.
import { useState } from 'preact/hooks';
import { getJson, list, optional } from '../api';
import { time } from '../format';
import { usePoll } from '../poll';
import type { JobDetails, JobRow } from '../types';
import { Badge, Loaded, Section, Table } from '../ui';

function JobLogs(props: { id: string }) {
  const polled = usePoll(
    (signal) => optional(() => getJson<{ logs: string }>(`/api/jobs/${encodeURIComponent(props.id)}/logs`, signal)),
    [props.id],
  );
  return (
    <Section title={`Logs of ${props.id}`} testId="job-logs">
      <Loaded polled={polled}>
        {(d) => (d === null ? <p class="muted">No logs for this job.</p> : <pre class="log">{d.logs}</pre>)}
      </Loaded>
    </Section>
  );
}

export function Jobs() {
  const submitted = usePoll((signal) => optional(() => getJson<JobDetails[]>('/api/jobs/', signal)), []);
  const drivers = usePoll((signal) => list<JobRow>('jobs', { detail: true, limit: 10000 }, signal), []);
  const [shown, setShown] = useState<string | null>(null);
  return (
    <>
      <Section title="Submitted jobs" testId="submitted-jobs">
        <Loaded polled={submitted}>
          {(jobs) =>
            jobs === null ? (
              <p class="muted">
                No jobs: this dashboard does not serve the Jobs API (<code>/api/jobs/</code>).
              </p>
            ) : (
              <Table
                columns={[
                  {
                    title: 'Submission',
                    cell: (j) => {
                      const id = j.submission_id ?? j.job_id ?? '';
                      return (
                        <a href="#/jobs" onClick={(e) => (e.preventDefault(), setShown(id))}>
                          {id}
                        </a>
                      );
                    },
                  },
                  { title: 'Job', cell: (j) => j.job_id ?? '' },
                  { title: 'Status', cell: (j) => <Badge state={j.status} /> },
                  { title: 'Entrypoint', cell: (j) => <code>{j.entrypoint}</code> },
                  { title: 'Message', cell: (j) => j.message ?? '' },
                  { title: 'Exit code', cell: (j) => j.driver_exit_code ?? '' },
                  { title: 'Started', cell: (j) => time(j.start_time) },
                  { title: 'Ended', cell: (j) => time(j.end_time) },
                ]}
                rows={[...jobs].reverse()}
                rowKey={(j, i) => j.submission_id ?? j.job_id ?? String(i)}
                empty="no jobs submitted"
              />
            )
          }
        </Loaded>
      </Section>
      {shown && <JobLogs id={shown} />}
      <Section title="Drivers' jobs" testId="driver-jobs">
        <Loaded polled={drivers}>
          {(d) => (
            <Table
              columns={[
                { title: 'Job', cell: (j) => j.job_id },
                { title: 'Status', cell: (j) => <Badge state={j.status} /> },
                { title: 'Driver pid', cell: (j) => j.driver_info?.pid ?? '' },
                { title: 'Namespace', cell: (j) => j.ray_namespace ?? '' },
                { title: 'Started', cell: (j) => time(j.start_time) },
                { title: 'Ended', cell: (j) => time(j.end_time) },
              ]}
              rows={[...d.result].reverse()}
              rowKey={(j) => j.job_id}
              empty="no jobs"
            />
          )}
        </Loaded>
      </Section>
    </>
  );
}
