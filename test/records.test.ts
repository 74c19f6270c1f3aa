import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Readable } from 'node:stream';
import t from 'tap';
import { LineError, parseLine, readRecords, targetsFromArgs, untilAborted, type Rec } from '../lib/records.js';

async function read(text: string | string[], needIp = true): Promise<{ records: Rec[]; errors: string[] }> {
  const errors: string[] = [];
  const records: Rec[] = [];
  for await (const record of readRecords(Readable.from([text].flat()), (err) => errors.push(err.message), needIp)) {
    records.push(record);
  }
  return { records, errors };
}

t.test('reads JSON records and bare IPs, blank lines skipped, CRLF accepted', async (t) => {
  const { records, errors } = await read('127.0.0.1\r\n\n{"ip":"::0001","tag":"x"}\r\n  \n{"ip":"127.0.0.2","n":[1]}');
  t.same(records, [{ ip: '127.0.0.1' }, { ip: '::1', tag: 'x' }, { ip: '127.0.0.2', n: [1] }]);
  t.same(errors, []);
});

t.test('a bad line is reported with its number and skipped; the rest are kept', async (t) => {
  const input = ['127.0.0.1', '1.2.3.256', 'null', '{"ip":1}', '{"ip":"x"}', '{"port":1}', '[1]', '{"ip":', '127.0.0.9'].join('\n');
  const { records, errors } = await read(input);
  t.same(records, [{ ip: '127.0.0.1' }, { ip: '127.0.0.9' }]);
  t.same(errors, [
    'stdin:2: not a JSON record or IP address: "1.2.3.256"',
    'stdin:3: not a JSON record or IP address: "null"',
    'stdin:4: record has no "ip" field: "{\\"ip\\":1}"',
    'stdin:5: bad IP address "x"',
    'stdin:6: record has no "ip" field: "{\\"port\\":1}"',
    'stdin:7: not a JSON record or IP address: "[1]"',
    'stdin:8: invalid JSON (Unexpected end of JSON input): "{\\"ip\\":"',
  ]);
});

t.test('without needIp any JSON object passes', async (t) => {
  const { records, errors } = await read('{"a":1}\n{"ip":"nope"}\n127.0.0.1\n', false);
  t.same(records, [{ a: 1 }, { ip: 'nope' }, { ip: '127.0.0.1' }]);
  t.same(errors, []);
});

t.test('lines split across chunks and a many-MB line are read whole', async (t) => {
  const big = 'x'.repeat(20 * 1024 * 1024);
  const chunks = ['{"ip":"127.0.', '0.1","pad":"', big.slice(0, 1e6), big.slice(1e6), '"}\n127.0.0.2\n'];
  const { records } = await read(chunks);
  t.equal(records.length, 2);
  t.equal((records[0]?.pad as string).length, big.length);
  t.same(records[1], { ip: '127.0.0.2' });
});

t.test('parseLine names the line', async (t) => {
  t.throws(() => parseLine('nope', 42, true), new LineError(42, 'not a JSON record or IP address: "nope"'));
  const long = 'y'.repeat(500);
  t.throws(() => parseLine(long, 1, true), { message: `stdin:1: not a JSON record or IP address: "${'y'.repeat(60)}..."` });
});

t.test('targets from arguments are checked first, then expanded lazily', async (t) => {
  t.same([...targetsFromArgs(['127.0.0.1-2', '::1'])], [{ ip: '127.0.0.1' }, { ip: '127.0.0.2' }, { ip: '::1' }]);
  t.throws(() => targetsFromArgs(['127.0.0.1', 'bogus']), { name: 'SpecError' });
  const everything = targetsFromArgs(['0.0.0.0/0'])[Symbol.iterator]();
  t.same(everything.next().value, { ip: '0.0.0.0' });
});

t.test('untilAborted abandons a pending read', async (t) => {
  const abort = new AbortController();
  const never = new Readable({ read() {} });
  never.push('127.0.0.1\n');
  const seen: Rec[] = [];
  const reading = (async () => {
    for await (const record of untilAborted(readRecords(never, () => undefined), abort.signal)) {
      seen.push(record);
      abort.abort();
    }
  })();
  await reading;
  t.same(seen, [{ ip: '127.0.0.1' }]);
});

t.test('untilAborted holds nothing per item (memory stays flat on long inputs)', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  async function* many(): AsyncGenerator<number> {
    // 50k items: the old leak (~420 B an item) grows 20 MB here, well past the 8 MB bound; 200k
    // took seconds of CPU under coverage to say the same.
    for (let i = 0; i < 50_000; i++) yield i;
  }
  const abort = new AbortController();
  let count = 0;
  gc();
  const before = process.memoryUsage().heapUsed;
  let during = 0;
  for await (const _ of untilAborted(many(), abort.signal)) {
    if (++count === 49_999) {
      gc();
      during = process.memoryUsage().heapUsed;
    }
  }
  t.equal(count, 50_000);
  t.ok(during - before < 8 * 1024 * 1024, `heap grew ${Math.round((during - before) / 1024)} KiB over 50k items (the old leak: ~420 B an item)`);
});

t.test('numberedLines caps a line at maxBytes across chunks, skips it whole, keeps counting', async (t) => {
  const { numberedLines } = await import('../lib/records.js');
  const { Readable } = await import('node:stream');
  const chunks = ['ok 1\r\nxx', 'xxxxxxxxxx', 'xxxx\nok', ' 3\nyyyyyyyyyyyy', 'y\n', 'last'].map((c) => Buffer.from(c));
  const errors: string[] = [];
  const seen: string[] = [];
  for await (const { line, text } of numberedLines(Readable.from(chunks), (err) => errors.push(err.message), 8)) seen.push(`${line} ${text}`);
  t.same(seen, ['1 ok 1', '3 ok 3', '5 last']);
  t.same(errors, ['stdin:2: line longer than 8 bytes, skipped', 'stdin:4: line longer than 8 bytes, skipped']);
});
