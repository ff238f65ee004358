import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { historyOf } from '../freshness';

/**
 * Rows consumed per second and the records behind the end of the topic, for the polls of the last
 * hour. uPlot draws on a canvas; the numbers themselves are in the table beside it, for screen readers.
 */
export function FreshnessChart({ view, polls }: { view: string; polls: number }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const data = (): uPlot.AlignedData => {
    const points = historyOf(view);
    const xs: number[] = [];
    const rates: Array<number | null> = [];
    const lags: number[] = [];
    points.forEach((point, i) => {
      xs.push(point.at / 1000);
      const previous = points[i - 1];
      rates.push(
        previous === undefined
          ? null
          : (point.view.rowsConsumed - previous.view.rowsConsumed) / ((point.at - previous.at) / 1000),
      );
      lags.push(point.view.lag.reduce((sum, p) => sum + p.records, 0));
    });
    return [xs, rates, lags];
  };
  useEffect(() => {
    const element = host.current!;
    const width = () => Math.max(260, Math.min(element.clientWidth, 900));
    plot.current = new uPlot(
      {
        width: width(),
        height: 200,
        series: [
          {},
          { label: 'rows/s', stroke: '#1f5fa8', width: 2 },
          { label: 'lag (records)', stroke: '#a8431f', width: 2, scale: 'lag' },
        ],
        axes: [{}, { label: 'rows/s' }, { scale: 'lag', side: 1, label: 'lag', grid: { show: false } }],
      },
      data(),
      element,
    );
    const resize = () => plot.current?.setSize({ width: width(), height: 200 });
    addEventListener('resize', resize);
    return () => {
      removeEventListener('resize', resize);
      plot.current?.destroy();
    };
  }, [view]);
  useEffect(() => plot.current?.setData(data()), [polls]);
  return <div class="chart" ref={host} role="img" aria-label={`Rows per second and lag of ${view}, last hour`} />;
}
