/**
 * The notebook contract's per-cell rules in the frontend: what a cell is to the
 * flow and what a flow or step cell declares, live and without a kernel.
 *
 * This MIRRORS python/jupyter_metaflow/cells.py (the one definition of the
 * rules, also used by the kernel and the exporter); both are checked by the same
 * JSON test vectors, python/tests/vectors/assembly.json. Python source is read
 * with the Lezer Python grammar (the parser CodeMirror uses), standing in for
 * `ast.parse`. Putting the cells together into a flow is assembly.ts's.
 */
import { parser } from '@lezer/python';
import type { SyntaxNode } from '@lezer/common';

import type { ICellError, INotebookCell, ITransition } from './protocol';

/** What a notebook cell is to the flow. */
export type CellKind = 'flow' | 'step' | 'module' | 'scratch' | 'markdown' | 'other';

/** A cell as the rules see it (the `flow` message's cell shape). */
export type ICellInput = INotebookCell;

/** papermill's tag on the cell of run values it inserts: a scratch cell (cells.py). */
export const INJECTED_PARAMETERS_TAG = 'injected-parameters';
const RESERVED_STEP_NAMES = new Set(['name', 'next', 'input', 'index', 'cmd']);
const STEP_NAME_RE = /^[a-z0-9][a-z0-9_]*$/;
const FLOW_MAGIC_RE = /^%%flow(?:\s|$)/;
const STEP_MAGIC_RE = /^%%step(?:\s|$)/;
const PY_KEYWORDS = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except ' +
    'finally for from global if import in is lambda nonlocal not or pass raise return try ' +
    'while with yield'
  ).split(' ')
);

/** The cell's kind under the notebook contract. */
export function classify(cell: ICellInput): CellKind {
  if (cell.cell_type === 'markdown') {
    return 'markdown';
  }
  if (cell.cell_type !== 'code') {
    return 'other';
  }
  const [first] = firstLine(cell.source);
  if (FLOW_MAGIC_RE.test(first) || tagValue(cell.tags, 'flow:') !== null) {
    return 'flow';
  }
  if (STEP_MAGIC_RE.test(first) || tagValue(cell.tags, 'step:') !== null) {
    return 'step';
  }
  if (cell.tags.includes('module')) {
    return 'module';
  }
  if (
    cell.tags.includes('skip') ||
    cell.tags.includes(INJECTED_PARAMETERS_TAG) ||
    !cell.source.trim()
  ) {
    return 'scratch';
  }
  return isModuleSource(cell.source) ? 'module' : 'scratch';
}

/**
 * Per-cell results by cell content (type, tags, source), so that an edit
 * re-reads only the edited cell. Results are computed for the cell at hand
 * and re-stamped with the position and id of later cells with the same content.
 */
const cache = new Map<
  string,
  { index: number; id: string | null; value?: unknown; error?: ICellError }
>();
const CACHE_SIZE = 5000;

export function cached<T>(cell: ICellInput, what: string, compute: () => T): T {
  const key = `${what}\0${cell.cell_type}\0${cell.tags.join('\u0001')}\0${cell.source}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = { index: cell.index, id: cell.id ?? null };
    try {
      hit.value = compute();
    } catch (exc) {
      hit.error = cellRulesError(exc);
    }
    if (cache.size >= CACHE_SIZE) {
      cache.clear();
    }
    cache.set(key, hit);
  }
  const id = cell.id ?? null;
  if (hit.error) {
    throw new CellRulesError({ ...hit.error, cell_index: cell.index, cell_id: id });
  }
  const value = hit.value as T;
  if (value !== null && typeof value === 'object' && (hit.index !== cell.index || hit.id !== id)) {
    return { ...value, cell_index: cell.index, cell_id: id };
  }
  return value;
}

export interface IStepCell {
  name: string;
  cell_index: number;
  cell_id: string | null;
  decorators: string[];
  body_line: number;
  transition: ITransition | null;
  readsInputs: boolean;
}

export interface IFlowCell {
  name: string | null;
  nameSource: 'magic' | 'tag' | null;
  cell_index: number;
  cell_id: string | null;
  decorators: string[];
  param_args: string[];
  body_line: number;
}

interface IHeader {
  magicArgs: string | null;
  magicLine: number | null;
  decorators: string[];
  body: string;
  bodyLine: number;
}

/** A cell that cannot be read; carries its error (cells.py `CellRulesError`). */
export class CellRulesError extends Error {
  constructor(readonly cellError: ICellError) {
    super(cellError.message);
  }
}

export function cellRulesError(exc: unknown): ICellError {
  if (exc instanceof CellRulesError) {
    return exc.cellError;
  }
  throw exc;
}

export function cellError(
  cell: ICellInput,
  line: number | null,
  message: string,
  fix: string,
  code: string
): ICellError {
  return { code, cell_index: cell.index, cell_id: cell.id ?? null, line, message, fix };
}

// ------------------------------------------------------------------ text helpers

/** Python `str.splitlines()` for the line breaks notebooks contain. */
export function splitLines(source: string): string[] {
  const lines = source.split(/\r\n|\r|\n/);
  if (lines.length && lines[lines.length - 1] === '') {
    lines.pop();
  }
  return lines;
}

/** Python `str.strip()`. */
export function pyStrip(text: string): string {
  return text.replace(/^\s+|\s+$/g, '');
}

/** The first non-blank line (right-stripped) and its 1-based number; ['', 0] if none. */
export function firstLine(source: string): [string, number] {
  const lines = splitLines(source);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim()) {
      return [lines[i].replace(/\s+$/, ''), i + 1];
    }
  }
  return ['', 0];
}

export function tagValue(tags: string[], prefix: string): string | null {
  for (const tag of tags) {
    if (tag.startsWith(prefix)) {
      return pyStrip(tag.slice(prefix.length));
    }
  }
  return null;
}

/** Python `repr()` of a string. */
export function repr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const body = text
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');
  return quote + (quote === "'" ? body.replace(/'/g, "\\'") : body) + quote;
}

/** Python `textwrap.dedent`. */
export function dedent(text: string): string {
  const lines = text.split('\n').map(l => (l.trim() ? l : ''));
  let margin: string | null = null;
  for (const line of lines) {
    if (!line) {
      continue;
    }
    const indent = /^[ \t]*/.exec(line)![0];
    if (margin === null) {
      margin = indent;
    } else if (!indent.startsWith(margin)) {
      let i = 0;
      while (i < margin.length && i < indent.length && margin[i] === indent[i]) {
        i++;
      }
      margin = margin.slice(0, i);
    }
  }
  const cut = margin?.length ?? 0;
  return lines.map(l => l.slice(cut)).join('\n');
}

export function isIdentifier(name: string): boolean {
  return /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u.test(name);
}

/** POSIX `shlex.split`; throws on an unclosed quote or a trailing escape. */
export function shlexSplit(text: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (/\s/.test(ch)) {
      if (word !== null) {
        out.push(word);
        word = null;
      }
      i++;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) {
        throw new Error('No closing quotation');
      }
      word = (word ?? '') + text.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      let acc = '';
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < text.length && '\\"$`\n'.includes(text[j + 1])) {
          acc += text[j + 1];
          j += 2;
        } else {
          acc += text[j++];
        }
      }
      if (j >= text.length) {
        throw new Error('No closing quotation');
      }
      word = (word ?? '') + acc;
      i = j + 1;
    } else if (ch === '\\') {
      if (i + 1 >= text.length) {
        throw new Error('No escaped character');
      }
      word = (word ?? '') + text[i + 1];
      i += 2;
    } else {
      word = (word ?? '') + ch;
      i++;
    }
  }
  if (word !== null) {
    out.push(word);
  }
  return out;
}

// ------------------------------------------------------------------ Python syntax

/** A parsed Python source: Lezer tree root plus line lookup. */
export class PySource {
  constructor(readonly text: string) {
    // Python reads a form feed as blank space (lezer does not); same length, same offsets
    this.root = parser.parse(text.replace(/\f/g, ' ')).topNode;
    this._lineStarts = [0];
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '\n') {
        this._lineStarts.push(i + 1);
      }
    }
  }

  /** 1-based line of an offset. */
  lineOf(offset: number): number {
    let lo = 0;
    let hi = this._lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this._lineStarts[mid] <= offset) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo + 1;
  }

  slice(node: SyntaxNode): string {
    return this.text.slice(node.from, node.to);
  }

  /** The first syntax error: [1-based line, CPython-like message], or null. */
  syntaxError(): [number, string] | null {
    const bracket = bracketError(this.text);
    if (bracket) {
      return [this.lineOf(bracket[0]), bracket[1]];
    }
    let found: number | null = null;
    this.root.cursor().iterate(n => {
      if (found !== null) {
        return false;
      }
      if (n.type.isError) {
        found = n.from;
        return false;
      }
      return true;
    });
    if (found === null && /\0/.test(this.text)) {
      return [1, 'source code string cannot contain null bytes'];
    }
    if (found === null) {
      return null;
    }
    // An error at the end of the text belongs to its last non-blank line, as in CPython.
    const at = Math.min(found, this.text.replace(/\s+$/, '').length);
    return [this.lineOf(at), 'invalid syntax'];
  }

  readonly root: SyntaxNode;
  private _lineStarts: number[];
}

/** Unclosed or mismatched brackets, as CPython's tokenizer reports them first. */
function bracketError(text: string): [number, string] | null {
  const stack: Array<[string, number]> = [];
  const pairs: { [close: string]: string } = { ')': '(', ']': '[', '}': '{' };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '#') {
      while (i < text.length && text[i] !== '\n') {
        i++;
      }
      continue;
    }
    if (ch === '"' || ch === "'") {
      const triple = text.startsWith(ch.repeat(3), i);
      const quote = triple ? ch.repeat(3) : ch;
      let j = i + quote.length;
      while (j < text.length && !text.startsWith(quote, j)) {
        if (text[j] === '\\') {
          j++;
        } else if (!triple && text[j] === '\n') {
          break;
        }
        j++;
      }
      i = j + quote.length;
      continue;
    }
    if ('([{'.includes(ch)) {
      stack.push([ch, i]);
    } else if (ch in pairs) {
      const top = stack.pop();
      if (!top) {
        return [i, `unmatched '${ch}'`];
      }
      if (top[0] !== pairs[ch]) {
        return [i, `closing parenthesis '${ch}' does not match opening parenthesis '${top[0]}'`];
      }
    }
    i++;
  }
  if (stack.length) {
    const [ch, at] = stack[stack.length - 1];
    return [at, `'${ch}' was never closed`];
  }
  return null;
}

export function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) {
    if (c.name !== 'Comment') {
      out.push(c);
    }
  }
  return out;
}

/** Top-level statements of a parsed source. */
function statements(src: PySource): SyntaxNode[] {
  return children(src.root);
}

/** Split a node's children on commas (ArgList / tuple-ish groups), dropping brackets. */
function commaGroups(nodes: SyntaxNode[]): SyntaxNode[][] {
  const groups: SyntaxNode[][] = [[]];
  for (const n of nodes) {
    if (n.name === ',') {
      groups.push([]);
    } else if (!['(', ')', '[', ']', '{', '}'].includes(n.name)) {
      groups[groups.length - 1].push(n);
    }
  }
  return groups.filter(g => g.length);
}

const CONSTANTS = new Set(['Number', 'String', 'Boolean', 'None', 'Ellipsis', 'ContinuedString']);

function isLiteral(node: SyntaxNode, src: PySource): boolean {
  if (CONSTANTS.has(node.name)) {
    return true;
  }
  if (node.name === 'UnaryExpression') {
    const [op, operand] = children(node);
    return !!operand && /^[-+]$/.test(src.slice(op)) && operand.name === 'Number';
  }
  if (node.name === 'ParenthesizedExpression') {
    const inner = children(node).filter(c => c.name !== '(' && c.name !== ')');
    return inner.length === 1 && isLiteral(inner[0], src);
  }
  if (['TupleExpression', 'ArrayExpression', 'SetExpression'].includes(node.name)) {
    return children(node)
      .filter(c => !['(', ')', '[', ']', '{', '}', ','].includes(c.name))
      .every(c => isLiteral(c, src));
  }
  if (node.name === 'DictionaryExpression') {
    const parts = children(node).filter(c => !['{', '}', ',', ':'].includes(c.name));
    return parts.every(c => c.name !== '**' && isLiteral(c, src));
  }
  return false;
}

function isNameTarget(group: SyntaxNode[]): boolean {
  return group.every(
    n =>
      n.name === 'VariableName' ||
      ((n.name === 'TupleExpression' || n.name === 'ArrayExpression') &&
        commaGroups(children(n)).every(g => isNameTarget(g)))
  );
}

function isModuleStatement(stmt: SyntaxNode, src: PySource, imported: Set<string>): boolean {
  switch (stmt.name) {
    case 'ImportStatement':
    case 'FunctionDefinition':
    case 'ClassDefinition':
    case 'PassStatement':
      return true;
    case 'DecoratedStatement':
      return children(stmt).some(
        c => c.name === 'FunctionDefinition' || c.name === 'ClassDefinition'
      );
    case 'ExpressionStatement': {
      // a docstring, or a library's configuration call
      const parts = children(stmt);
      return (
        parts.length === 1 &&
        (parts[0].name === 'String' ||
          parts[0].name === 'ContinuedString' ||
          isConfigCall(parts[0], src, imported))
      );
    }
    case 'AssignStatement': {
      const parts = children(stmt);
      const sections: SyntaxNode[][] = [[]];
      for (const p of parts) {
        if (p.name === 'AssignOp') {
          sections.push([]);
        } else {
          sections[sections.length - 1].push(p);
        }
      }
      const typed = parts.some(p => p.name === 'TypeDef');
      if (typed) {
        const target = sections[0].filter(p => p.name !== 'TypeDef');
        if (target.length !== 1 || target[0].name !== 'VariableName') {
          return false;
        }
        return sections.length === 1 || (sections.length === 2 && valueIsLiteral(sections[1], src));
      }
      if (sections.length < 2) {
        return false;
      }
      const targets = sections.slice(0, -1);
      return (
        targets.every(t => isNameTarget(commaGroups(t).flat())) &&
        valueIsLiteral(sections[sections.length - 1], src)
      );
    }
    default:
      return false;
  }
}

/** The right-hand side of an assignment (a bare `1, 2` is a tuple). */
function valueIsLiteral(section: SyntaxNode[], src: PySource): boolean {
  const groups = commaGroups(section);
  return groups.length > 0 && groups.every(g => g.length === 1 && isLiteral(g[0], src));
}

function hasMagicLines(source: string): boolean {
  return splitLines(source).some(l => /^\s*[%!]/.test(l));
}

export function isModuleSource(source: string): boolean {
  if (hasMagicLines(source)) {
    return false;
  }
  const src = new PySource(source);
  if (src.syntaxError()) {
    return false;
  }
  const imported = new Set<string>();
  for (const stmt of statements(src)) {
    if (!isModuleStatement(stmt, src, imported)) {
      return false;
    }
    importedNames(stmt, src).forEach(name => imported.add(name));
  }
  return true;
}

/** cells.py `_CONFIG_FUNCTION_RE`: functions that set a library up. */
const CONFIG_FUNCTION_RE =
  /^(?:use|seed|manual_seed|filterwarnings|simplefilter|basicConfig|update|set|set_\w+|set[A-Z]\w*)$/;
/** cells.py `_BUILTIN_CLASS_RE`: built-in warning and exception classes. */
const BUILTIN_CLASS_RE = /^[A-Z]\w*(?:Warning|Error|Exception)$/;

/** `a` for `a`, `a.b`, `a.b.c`; null for anything else (calls, subscripts). */
function dottedRoot(node: SyntaxNode, src: PySource): string | null {
  let current: SyntaxNode | null = node;
  while (current && current.name === 'MemberExpression') {
    const parts = children(current);
    if (parts.length !== 3 || parts[1].name !== '.' || parts[2].name !== 'PropertyName') {
      return null;
    }
    current = parts[0];
  }
  return current && current.name === 'VariableName' ? src.slice(current) : null;
}

/** The names an import statement binds (`import a.b` binds `a`). */
function importedNames(stmt: SyntaxNode, src: PySource): string[] {
  if (stmt.name !== 'ImportStatement') {
    return [];
  }
  const parts = children(stmt);
  const isFrom = parts[0]?.name === 'from';
  const names = isFrom
    ? parts.slice(parts.findIndex(p => p.name === 'import') + 1)
    : parts.slice(1);
  const bound: string[] = [];
  for (const group of commaGroups(names)) {
    const as = group.findIndex(p => p.name === 'as');
    const name = as >= 0 ? group[as + 1] : group[0];
    if (name && name.name === 'VariableName') {
      bound.push(src.slice(name));
    }
  }
  return bound;
}

/** cells.py `_is_config_call`: a call configuring a library imported above it in the cell. */
function isConfigCall(node: SyntaxNode, src: PySource, imported: Set<string>): boolean {
  if (node.name !== 'CallExpression') {
    return false;
  }
  const [callee, argList] = children(node);
  if (!callee || !argList || argList.name !== 'ArgList') {
    return false;
  }
  const last = callee.name === 'MemberExpression' ? children(callee).pop() : callee;
  const root = dottedRoot(callee, src);
  if (!last || !CONFIG_FUNCTION_RE.test(src.slice(last)) || root === null || !imported.has(root)) {
    return false;
  }
  return commaGroups(children(argList)).every(group => {
    if (group.some(p => p.name === '*' || p.name === '**')) {
      return false;
    }
    const value = group.length >= 3 && group[1].name === 'AssignOp' ? group.slice(2) : group;
    if (value.length !== 1) {
      return false;
    }
    const [arg] = value;
    if (isLiteral(arg, src)) {
      return true;
    }
    if (arg.name === 'VariableName' && BUILTIN_CLASS_RE.test(src.slice(arg))) {
      return true;
    }
    const argRoot = dottedRoot(arg, src);
    return argRoot !== null && imported.has(argRoot);
  });
}

// ------------------------------------------------------------------ flow / step cells

function splitHeader(cell: ICellInput, magic: string): IHeader {
  const lines = splitLines(cell.source);
  const [first, firstNo] = firstLine(cell.source);
  let magicArgs: string | null = null;
  let magicLine: number | null = null;
  let pos = 0;
  const prefix = '%%' + magic;
  if (
    first.startsWith(prefix) &&
    (first.length === prefix.length || /\s/.test(first[prefix.length]))
  ) {
    magicArgs = pyStrip(first.slice(prefix.length));
    magicLine = firstNo;
    pos = firstNo;
  }
  const decorators: string[] = [];
  while (pos < lines.length && lines[pos].trimStart().startsWith('@')) {
    const start = pos;
    let text = pyStrip(lines[pos]);
    while (!isCompleteExpression(pyStrip(text.slice(1)) || '(')) {
      pos++;
      if (pos >= lines.length) {
        throw new CellRulesError(
          cellError(
            cell,
            start + 1,
            `The decorator on line ${start + 1} is not a valid expression.`,
            "Fix the decorator's syntax (close its parentheses).",
            'syntax-error'
          )
        );
      }
      text += '\n' + pyStrip(lines[pos]);
    }
    decorators.push(pyStrip(dedent(lines.slice(start, pos + 1).join('\n'))));
    pos++;
  }
  let body = dedent(lines.slice(pos).join('\n'));
  if (lines.length > pos && cell.source.endsWith('\n')) {
    body += '\n';
  }
  return { magicArgs, magicLine, decorators, body, bodyLine: pos + 1 };
}

/** Whether `text` compiles as one Python expression (`compile(..., 'eval')`). */
function isCompleteExpression(text: string): boolean {
  const src = new PySource('(' + text + '\n)');
  if (src.syntaxError()) {
    return false;
  }
  const stmts = statements(src);
  return stmts.length === 1 && stmts[0].name === 'ExpressionStatement';
}

function parseBody(cell: ICellInput, body: string, bodyLine: number): PySource {
  const src = new PySource(body);
  const problem = src.syntaxError();
  const text = problem ? pyStrip(splitLines(body)[problem[0] - 1] ?? '') : '';
  if (problem && (text.startsWith('%') || text.startsWith('!'))) {
    throw new CellRulesError(
      cellError(
        cell,
        bodyLine + problem[0] - 1,
        `${text}: IPython magics and shell commands cannot run in a flow or step cell (it runs as Python, as in the flow file).`,
        'Write it in Python (subprocess.run for a shell command) or move it to a scratch cell.',
        'syntax-error'
      )
    );
  }
  const lines = splitLines(body);
  const code = lines.findIndex(l => pyStrip(l) !== '' && !pyStrip(l).startsWith('#'));
  if (problem && code >= 0 && pyStrip(lines[code]).startsWith('@')) {
    // a decorator below a comment or blank line
    throw new CellRulesError(
      cellError(
        cell,
        bodyLine + code,
        `The decorator ${pyStrip(lines[code])} is separated from the magic line by a comment or blank line, so it is read as code.`,
        'Put the decorators right under the magic line, one after another; comments go below them.',
        'syntax-error'
      )
    );
  }
  if (problem) {
    throw new CellRulesError(
      cellError(
        cell,
        bodyLine + problem[0] - 1,
        `Syntax error: ${problem[1]}.`,
        'Correct the code on that line of the cell.',
        'syntax-error'
      )
    );
  }
  return src;
}

function isSelfAttr(node: SyntaxNode | undefined, src: PySource): string | null {
  if (!node || node.name !== 'MemberExpression') {
    return null;
  }
  const [obj, dot, prop] = children(node);
  if (
    obj?.name === 'VariableName' &&
    src.slice(obj) === 'self' &&
    dot?.name === '.' &&
    prop?.name === 'PropertyName'
  ) {
    return src.slice(prop);
  }
  return null;
}

function isSelfNext(node: SyntaxNode, src: PySource): boolean {
  return node.name === 'CallExpression' && isSelfAttr(node.firstChild ?? undefined, src) === 'next';
}

/** The Python value of a string literal node, or null for bytes / f-strings. */
function stringValue(node: SyntaxNode, src: PySource): string | null {
  if (node.name !== 'String') {
    return null;
  }
  const raw = src.slice(node);
  const m = /^([rRuU]*)('''|"""|'|")([\s\S]*)\2$/.exec(raw);
  if (!m) {
    return null;
  }
  if (/r/i.test(m[1])) {
    return m[3];
  }
  const escapes: { [c: string]: string } = {
    n: '\n',
    t: '\t',
    r: '\r',
    '\\': '\\',
    "'": "'",
    '"': '"',
    '0': '\0'
  };
  return m[3].replace(/\\(.)/g, (_, c: string) => escapes[c] ?? '\\' + c);
}

/** `str(key)` of a switch case key constant, or null when not a constant. */
function caseKey(node: SyntaxNode, src: PySource): string | null {
  const text = src.slice(node);
  switch (node.name) {
    case 'String':
      return stringValue(node, src) ?? text;
    case 'Boolean':
    case 'None':
      return text;
    case 'Number': {
      const clean = text.replace(/_/g, '');
      if (/^0[xob]/i.test(clean) || /^\d+$/.test(clean)) {
        return String(Number(clean));
      }
      return clean;
    }
  }
  const attr = node.name === 'MemberExpression' ? children(node) : [];
  if (attr.length === 3 && attr[2].name === 'PropertyName') {
    const inner = isSelfAttr(attr[0], src);
    if (inner !== null) {
      return `config:${inner}.${src.slice(attr[2])}`;
    }
  }
  return null;
}

function switchCases(dict: SyntaxNode, src: PySource): Map<string, string> | null {
  const parts = children(dict).filter(c => !['{', '}', ','].includes(c.name));
  const cases = new Map<string, string>();
  for (let i = 0; i < parts.length; i += 3) {
    const [key, colon, value] = parts.slice(i, i + 3);
    if (!key || colon?.name !== ':' || !value) {
      return null;
    }
    const k = caseKey(key, src);
    const target = isSelfAttr(value, src);
    if (k === null || target === null) {
      return null;
    }
    cases.set(k, target);
  }
  return cases.size ? cases : null;
}

function parseTransition(cell: ICellInput, src: PySource, bodyLine: number): ITransition | null {
  const stmts = statements(src);
  const tail = stmts[stmts.length - 1];
  const tailCall =
    tail?.name === 'ExpressionStatement' &&
    children(tail).length === 1 &&
    isSelfNext(children(tail)[0], src)
      ? children(tail)[0]
      : null;
  let stray: SyntaxNode | null = null;
  src.root.cursor().iterate(n => {
    if (stray) {
      return false;
    }
    if (
      n.name === 'CallExpression' &&
      isSelfNext(n.node, src) &&
      !(tailCall && n.from === tailCall.from && n.to === tailCall.to)
    ) {
      stray = n.node;
      return false;
    }
    return true;
  });
  if (stray) {
    throw new CellRulesError(
      cellError(
        cell,
        bodyLine + src.lineOf((stray as SyntaxNode).from) - 1,
        'self.next(...) must be the last statement of the step.',
        'Move the transition to the end of the cell, outside any if/for/with.',
        'bad-transition'
      )
    );
  }
  if (!tailCall) {
    return null;
  }
  const line = bodyLine + src.lineOf(tailCall.from) - 1;
  const bad = new CellRulesError(
    cellError(
      cell,
      line,
      'This self.next(...) is not a transition Metaflow supports.',
      'Write self.next(self.a), self.next(self.a, self.b), ' +
        'self.next(self.a, foreach="items") or ' +
        'self.next({"x": self.x, "y": self.y}, condition="choice").',
      'bad-transition'
    )
  );
  const argList = children(tailCall).find(c => c.name === 'ArgList');
  const args: SyntaxNode[] = [];
  const keywords = new Map<string | null, SyntaxNode>();
  for (const group of commaGroups(argList ? children(argList) : [])) {
    if (group.length === 3 && group[0].name === 'VariableName' && group[1].name === 'AssignOp') {
      keywords.set(src.slice(group[0]), group[2]);
    } else if (group.length === 1) {
      args.push(group[0]);
    } else if (group[0].name === '**' || src.slice(group[0]) === '**') {
      keywords.set(null, group[group.length - 1]);
    } else {
      throw bad;
    }
  }
  if (keywords.has(null)) {
    throw bad;
  }
  const result = (
    kind: ITransition['kind'],
    targets: string[],
    extra: Partial<ITransition> = {}
  ): ITransition => ({
    kind,
    targets,
    foreach: null,
    condition: null,
    cases: null,
    num_parallel: null,
    line,
    ...extra
  });
  if (args.length === 1 && args[0].name === 'DictionaryExpression') {
    const cond = keywords.get('condition');
    const cases = switchCases(args[0], src);
    const condition = cond ? stringValue(cond, src) : null;
    if (keywords.size !== 1 || !cases || condition === null) {
      throw bad;
    }
    return result('switch', [...cases.values()], {
      condition,
      cases: Object.fromEntries(cases)
    });
  }
  const targets: string[] = [];
  for (const arg of args) {
    const target = isSelfAttr(arg, src);
    if (target === null) {
      throw bad;
    }
    targets.push(target);
  }
  if (!targets.length) {
    throw bad;
  }
  if (!keywords.size) {
    return result(targets.length === 1 ? 'linear' : 'split', targets);
  }
  if (keywords.size !== 1 || targets.length !== 1) {
    throw bad;
  }
  const [[name, value]] = [...keywords.entries()];
  if (name === 'foreach') {
    const foreach = stringValue(value, src);
    if (foreach !== null) {
      return result('foreach', targets, { foreach });
    }
  }
  if (name === 'num_parallel') {
    const text = src.slice(value).replace(/_/g, '');
    const count = value.name === 'Number' && /^\d+$/.test(text) ? Number(text) : null;
    return result('num_parallel', targets, { num_parallel: count });
  }
  throw bad;
}

/** Whether the body reads the name `inputs` and never binds it. */
function readsInputs(src: PySource): boolean {
  let loads = false;
  let stores = false;
  src.root.cursor().iterate(n => {
    if (n.name === 'VariableName' && src.text.slice(n.from, n.to) === 'inputs') {
      if (isStore(n.node, src)) {
        stores = true;
      } else if (!['ImportStatement', 'ParamList'].includes(n.node.parent?.name ?? '')) {
        loads = true;
      }
    }
  });
  return loads && !stores;
}

function isStore(node: SyntaxNode, src: PySource): boolean {
  const parent = node.parent;
  if (!parent) {
    return false;
  }
  if (parent.name === 'AssignStatement' || parent.name === 'UpdateStatement') {
    for (let s = node.nextSibling; s; s = s.nextSibling) {
      if (s.name === 'AssignOp' || s.name === 'UpdateOp') {
        return true;
      }
    }
    return false;
  }
  if (
    parent.name === 'TupleExpression' ||
    parent.name === 'ArrayExpression' ||
    parent.name === 'ParenthesizedExpression'
  ) {
    return isStore(parent, src);
  }
  // `for inputs in`, `as inputs`, `del inputs`
  let sawFor = false;
  for (let s = node.prevSibling; s; s = s.prevSibling) {
    if (s.name === 'as' || s.name === 'del') {
      return true;
    }
    if (s.name === 'for') {
      sawFor = true;
      break;
    }
    if (s.name === 'in') {
      break;
    }
  }
  if (sawFor) {
    for (let s = node.nextSibling; s; s = s.nextSibling) {
      if (s.name === 'in') {
        return true;
      }
    }
  }
  return false;
}

function stepNameProblem(name: string): string | null {
  if (!name) {
    return 'has no name';
  }
  if (RESERVED_STEP_NAMES.has(name)) {
    return `uses the reserved word ${repr(name)}`;
  }
  if (!STEP_NAME_RE.test(name) || !isIdentifier(name) || PY_KEYWORDS.has(name)) {
    return `has the invalid name ${repr(name)}`;
  }
  return null;
}

export function parseStepCell(cell: ICellInput): IStepCell {
  const header = splitHeader(cell, 'step');
  const tagName = tagValue(cell.tags, 'step:');
  let name: string;
  if (header.magicArgs !== null) {
    let args: string[];
    try {
      args = shlexSplit(header.magicArgs);
    } catch {
      args = header.magicArgs.split(/\s+/).filter(a => a);
    }
    if (args.length !== 1) {
      throw new CellRulesError(
        cellError(
          cell,
          header.magicLine,
          `Usage: %%step NAME (got ${repr(pyStrip('%%step ' + header.magicArgs))}).`,
          'Write the step name, and only it, after %%step, e.g. %%step start.',
          'bad-magic'
        )
      );
    }
    name = args[0];
    if (tagName !== null && tagName !== name) {
      throw new CellRulesError(
        cellError(
          cell,
          header.magicLine,
          `The cell says %%step ${name} but is tagged step:${tagName}.`,
          'Remove the step: tag or make it match the %%step line.',
          'bad-magic'
        )
      );
    }
  } else {
    name = tagName ?? '';
  }
  const problem = stepNameProblem(name);
  if (problem) {
    throw new CellRulesError(
      cellError(
        cell,
        header.magicLine,
        `The step ${problem}.`,
        'Step names use lowercase letters, digits and underscores, start with a ' +
          'letter or digit, and are not Python keywords or name/next/input/index/cmd.',
        'bad-step-name'
      )
    );
  }
  const src = parseBody(cell, header.body, header.bodyLine);
  return {
    name,
    cell_index: cell.index,
    cell_id: cell.id ?? null,
    decorators: header.decorators,
    body_line: header.bodyLine,
    transition: parseTransition(cell, src, header.bodyLine),
    readsInputs: readsInputs(src)
  };
}

/** `%%flow` options that take two values, as on Metaflow's command line. */
const TWO_VALUE_FLOW_OPTIONS = ['--config', '--config-value'];
/** `%%flow` options that are Metaflow `run` options, not Parameters (`--max-workers N`). */
const RUN_OPTIONS = ['--max-workers'];

/**
 * `[{max_workers: N}, the other tokens]` of a `%%flow` line's options; throws an Error
 * saying what is wrong with a value (a positive integer). Mirrors `cells.split_run_options`.
 */
export function splitRunOptions(args: string[]): [Record<string, number>, string[]] {
  const options: Record<string, number> = {};
  const rest: string[] = [];
  const tokens = [...args];
  while (tokens.length) {
    const tok = tokens.shift()!;
    const eq = tok.indexOf('=');
    const option = eq >= 0 ? tok.slice(0, eq) : tok;
    if (!RUN_OPTIONS.includes(option)) {
      rest.push(tok);
      continue;
    }
    const value = eq >= 0 ? tok.slice(eq + 1) : (tokens.shift() ?? '');
    if (!/^[0-9]+$/.test(value) || parseInt(value, 10) < 1) {
      throw new Error(
        `${option} takes a positive number of processes, e.g. ${option} 4; got ${repr(value)}`
      );
    }
    options[option.slice(2).replace(/-/g, '_')] = parseInt(value, 10);
  }
  return [options, rest];
}

export function parseFlowCell(cell: ICellInput): IFlowCell {
  const header = splitHeader(cell, 'flow');
  const tagName = tagValue(cell.tags, 'flow:');
  let name: string | null = tagName || null;
  let nameSource: IFlowCell['nameSource'] = name ? 'tag' : null;
  let paramArgs: string[] = [];
  if (header.magicArgs !== null) {
    const usage =
      'Write %%flow NAME --param value ..., e.g. %%flow PlayListFlow --genre Comedy ' +
      '(Configs: --config NAME FILE, --config-value NAME JSON).';
    let args: string[];
    try {
      args = shlexSplit(header.magicArgs);
    } catch (exc) {
      throw new CellRulesError(
        cellError(
          cell,
          header.magicLine,
          `Cannot read the %%flow line: ${(exc as Error).message}.`,
          usage,
          'bad-magic'
        )
      );
    }
    if (args.length && !args[0].startsWith('-')) {
      if (tagName && args[0] !== tagName) {
        throw new CellRulesError(
          cellError(
            cell,
            header.magicLine,
            `The cell says %%flow ${args[0]} but is tagged flow:${tagName}.`,
            'Remove the flow: tag or make it match the %%flow line.',
            'bad-magic'
          )
        );
      }
      name = args.shift()!;
      nameSource = 'magic';
    }
    paramArgs = args;
    try {
      splitRunOptions(args);
    } catch (exc) {
      throw new CellRulesError(
        cellError(cell, header.magicLine, `${(exc as Error).message}.`, usage, 'bad-magic')
      );
    }
    let expects = 0; // values the last option still takes
    for (const tok of args) {
      if (tok.startsWith('--') && tok.length > 2) {
        expects = tok.includes('=') ? 0 : TWO_VALUE_FLOW_OPTIONS.includes(tok) ? 2 : 1;
      } else if (expects) {
        expects -= 1;
      } else {
        throw new CellRulesError(
          cellError(
            cell,
            header.magicLine,
            `Unexpected argument ${repr(tok)} on the %%flow line.`,
            usage,
            'bad-magic'
          )
        );
      }
    }
  }
  if (name !== null && (!isIdentifier(name) || PY_KEYWORDS.has(name))) {
    throw new CellRulesError(
      cellError(
        cell,
        header.magicLine,
        `${repr(name)} is not a valid flow class name.`,
        'Use a Python identifier such as TrainModelFlow.',
        'bad-magic'
      )
    );
  }
  parseBody(cell, header.body, header.bodyLine);
  return {
    name,
    nameSource,
    cell_index: cell.index,
    cell_id: cell.id ?? null,
    decorators: header.decorators,
    param_args: paramArgs,
    body_line: header.bodyLine
  };
}

/** The name a step cell means, read loosely (for cells that failed to parse). */
export function declaredStepName(cell: ICellInput): string | null {
  const [first] = firstLine(cell.source);
  if (STEP_MAGIC_RE.test(first)) {
    const parts = first
      .slice(6)
      .split(/\s+/)
      .filter(p => p);
    return parts.length ? parts[0] : null;
  }
  return tagValue(cell.tags, 'step:');
}
