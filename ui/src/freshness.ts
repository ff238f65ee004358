import { useEffect, useState } from 'preact/hooks';
import { project, request, type ApiError } from './api';
import { asApiError } from './hooks';
import { parsePrometheus, viewFreshness, type ViewFreshness } from './prometheus';

/** How often the materializer's /metrics is read while a page that shows freshness is open. */
export const FRESHNESS_POLL_MS = 2_000;
/** The chart's window. */
const KEEP_MS = 60 * 60 * 1000;

export interface FreshnessPoint {
  /** Epoch ms of the poll. */
  at: number;
  view: ViewFreshness;
}

export interface ViewLive {
  latest: ViewFreshness;
  /** Rows consumed per second since the previous poll. */
  rowsPerSecond?: number;
  /** Mean time from event timestamp to online write of the rows written since the previous poll. */
  recentDelaySeconds?: number;
  /** When a poll last saw more rows written than the one before (epoch ms). */
  lastWriteSeenAt?: number;
  lagRecords: number;
}

/**
 * The polls of this tab, kept across pages for the chart's last hour: one reader for every page
 * that shows freshness, started by the first and stopped when none is shown.
 */
const history = new Map<string, FreshnessPoint[]>();
const lastWrite = new Map<string, number>();
let lastError: ApiError | undefined;
const subscribers = new Set<() => void>();
let timer: ReturnType<typeof setTimeout> | undefined;

async function poll(): Promise<void> {
  try {
    const text = await request<string>('materializer', '/metrics', { text: true });
    const at = Date.now();
    for (const [view, value] of viewFreshness(parsePrometheus(text), project())) {
      const points = history.get(view) ?? [];
      const previous = points[points.length - 1];
      if (previous !== undefined && value.delayCount > previous.view.delayCount) lastWrite.set(view, at);
      points.push({ at, view: value });
      while (points.length > 0 && points[0]!.at < at - KEEP_MS) points.shift();
      history.set(view, points);
    }
    lastError = undefined;
  } catch (error) {
    lastError = asApiError(error, 'materializer');
  }
  for (const notify of subscribers) notify();
  if (subscribers.size > 0) timer = setTimeout(() => void poll(), FRESHNESS_POLL_MS);
  else timer = undefined;
}

export function liveOf(view: string): ViewLive | undefined {
  const points = history.get(view);
  const latest = points?.[points.length - 1];
  if (latest === undefined) return undefined;
  const previous = points![points!.length - 2];
  const live: ViewLive = {
    latest: latest.view,
    lagRecords: latest.view.lag.reduce((sum, p) => sum + p.records, 0),
    ...(lastWrite.has(view) ? { lastWriteSeenAt: lastWrite.get(view)! } : {}),
  };
  if (previous !== undefined) {
    const seconds = (latest.at - previous.at) / 1000;
    live.rowsPerSecond = (latest.view.rowsConsumed - previous.view.rowsConsumed) / seconds;
  }
  // The mean delay of the last interval in which rows were written (quiet intervals say nothing new).
  for (let i = points!.length - 1; i > 0; i--) {
    const [older, newer] = [points![i - 1]!.view, points![i]!.view];
    const written = newer.delayCount - older.delayCount;
    if (written > 0) {
      live.recentDelaySeconds = (newer.delaySum - older.delaySum) / written;
      break;
    }
  }
  return live;
}

export function historyOf(view: string): readonly FreshnessPoint[] {
  return history.get(view) ?? [];
}

/** Re-renders the caller at every poll; returns the views seen and the materializer's state. */
export function useFreshness(): { views: string[]; error?: ApiError; polls: number } {
  const [polls, setPolls] = useState(0);
  useEffect(() => {
    const notify = () => setPolls((n) => n + 1);
    subscribers.add(notify);
    if (timer === undefined) void poll();
    return () => {
      subscribers.delete(notify);
    };
  }, []);
  return { views: [...history.keys()].sort(), ...(lastError ? { error: lastError } : {}), polls };
}
