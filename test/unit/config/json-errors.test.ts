import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonErrorOffset, jsonErrorWords } from '../../../src-relay/config/load.ts';

const complaint = (text: string) => {
  try {
    JSON.parse(text);
  } catch (error) {
    return jsonErrorWords(text, error as Error);
  }
  throw new Error('it parsed');
};

test('a JSON error is placed at a line and column, not at a character offset', () => {
  assert.equal(complaint('{\n  "mx": {\n    "maxRecipients" 7\n  }\n}\n'), "Expected ':' after property name at line 3, column 21");
  assert.equal(complaint('{\n  "filters": {"enabled": false,}\n}'), 'Expected double-quoted property name at line 2, column 32');
});

test("V8's quoted piece of the file is left out: its place is said instead", () => {
  assert.equal(complaint('{\n\t"x": }'), "Unexpected token '}' at line 2, column 7");
});

test('a file that ends early is placed at its end; one with text after the object, at that text', () => {
  assert.equal(complaint('{"domains": ["exa'), 'Unterminated string at line 1, column 18');
  assert.equal(complaint('{"a": 1}\nx'), 'Unexpected non-whitespace character after JSON at line 2, column 1');
});

test('the scanner agrees with JSON.parse on what parses', () => {
  for (const text of ['{}', '[1, -2.5e3, "a\\u00e9\\n", true, false, null]', ' {"a": {"b": []}} ']) assert.equal(jsonErrorOffset(text), null, text);
  for (const text of ['{"a": 01}', '{"a": "\t"}', '{"a": "\\x"}', "{'a': 1}", '[1,]']) assert.notEqual(jsonErrorOffset(text), null, text);
});
