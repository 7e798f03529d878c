/** A CloudWatch embedded-metric-format line as Powertools Metrics writes it. */
export type EmfLine = {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [key: string]: unknown;
};

/** Every EMF line in captured output (other JSON lines, the logs, are left out). */
export function emfLines(text: string): EmfLine[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfLine)
    .filter((line) => Array.isArray(line._aws?.CloudWatchMetrics));
}

/** The values written for a metric across the lines (a metric added n times in one flush is an array). */
export function metricValues(lines: EmfLine[], name: string): number[] {
  return lines.flatMap((line) => {
    const declared = line._aws.CloudWatchMetrics.some((set) => set.Metrics.some((m) => m.Name === name));
    if (!declared) return [];
    const value = line[name];
    return Array.isArray(value) ? (value as number[]) : [value as number];
  });
}

/** The dimension names and values a line's metrics carry. */
export function dimensionsOf(line: EmfLine): Record<string, unknown> {
  const names = line._aws.CloudWatchMetrics.flatMap((set) => set.Dimensions.flat());
  return Object.fromEntries(names.map((name) => [name, line[name]]));
}
