import { assemble, type IFlowModel } from '../assembly';
import { layoutFlow, layoutKey, NODE_HEIGHT, NODE_WIDTH } from '../layout';

function flow(sources: string[]): IFlowModel {
  return assemble(
    sources.map((source, index) => ({ index, id: null, cell_type: 'code', source, tags: [] }))
  );
}

describe('layoutFlow', () => {
  const branch = flow([
    '%%step start\nself.next(self.a, self.b)',
    '%%step a\nself.next(self.join)',
    '%%step b\nself.next(self.join)',
    '%%step join\nx = 1',
    '%%step end'
  ]);

  it('places every step once, parents above children', () => {
    const layout = layoutFlow(branch);
    expect(layout.nodes.map(n => n.name)).toEqual(['start', 'a', 'b', 'join', 'end']);
    const y = new Map(layout.nodes.map(n => [n.name, n.y]));
    expect(y.get('start')!).toBeLessThan(y.get('a')!);
    expect(y.get('a')).toBe(y.get('b'));
    expect(y.get('a')!).toBeLessThan(y.get('join')!);
    expect(y.get('join')!).toBeLessThan(y.get('end')!);
    for (const n of layout.nodes) {
      expect([n.width, n.height]).toEqual([NODE_WIDTH, NODE_HEIGHT]);
      expect(n.x).toBeGreaterThanOrEqual(0);
      expect(n.x + n.width).toBeLessThanOrEqual(layout.width);
      expect(n.y + n.height).toBeLessThanOrEqual(layout.height);
    }
  });

  it('does not overlap siblings', () => {
    const layout = layoutFlow(branch);
    const [a, b] = layout.nodes.filter(n => n.name === 'a' || n.name === 'b');
    expect(Math.abs(a.x - b.x)).toBeGreaterThanOrEqual(NODE_WIDTH);
  });

  it('routes one edge per transition target, ending at the target box', () => {
    const layout = layoutFlow(branch);
    expect(layout.edges.map(e => `${e.from}->${e.to}`)).toEqual([
      'start->a',
      'start->b',
      'a->join',
      'b->join',
      'join->end'
    ]);
    const join = layout.nodes.find(n => n.name === 'join')!;
    for (const e of layout.edges.filter(e => e.to === 'join')) {
      const last = e.points[e.points.length - 1];
      expect(Math.abs(last.y - join.y)).toBeLessThan(1);
    }
  });

  it('labels foreach and switch edges', () => {
    const model = flow([
      "%%step start\nself.next({'x': self.a, 'y': self.end}, condition='c')",
      "%%step a\nself.next(self.b, foreach='items')",
      '%%step b\nself.next(self.end)',
      '%%step end'
    ]);
    const labels = layoutFlow(model).edges.map(e => e.label);
    expect(labels).toEqual(['x', 'y', 'foreach items', null]);
  });

  it('skips unknown targets and survives cycles', () => {
    const model = flow([
      '%%step start\nself.next(self.nope)',
      '%%step a\nself.next(self.a2)',
      '%%step a2\nself.next(self.a)',
      '%%step end'
    ]);
    const layout = layoutFlow(model);
    expect(layout.nodes).toHaveLength(4);
    expect(layout.edges.map(e => e.to)).toEqual(['a2', 'a']);
  });

  it('lays branches out left to right in the order of self.next', () => {
    const xs = (sources: string[], names: string[]) => {
      const layout = layoutFlow(flow(sources));
      return names.map(n => layout.nodes.find(b => b.name === n)!.x);
    };
    const split = xs(
      [
        '%%step start\nself.next(self.upper, self.lower, self.title)',
        '%%step upper\nself.next(self.join)',
        '%%step lower\nself.next(self.join)',
        '%%step title\nself.next(self.join)',
        '%%step join\nx = 1',
        '%%step end'
      ],
      ['upper', 'lower', 'title']
    );
    expect([...split].sort((a, b) => a - b)).toEqual(split);
    const cases = xs(
      [
        "%%step start\nself.next({'small': self.small, 'large': self.large}, condition='mode')",
        '%%step small\nself.next(self.end)',
        '%%step large\nself.next(self.end)',
        '%%step end'
      ],
      ['small', 'large']
    );
    expect(cases[0]).toBeLessThan(cases[1]);
  });

  it('draws a recursive step as a small loop on its right side, inside the layout', () => {
    const model = flow([
      '%%step start\nself.next(self.grow)',
      "%%step grow\nself.next({'again': self.grow, 'done': self.end}, condition='status')",
      '%%step end'
    ]);
    const layout = layoutFlow(model);
    const grow = layout.nodes.find(n => n.name === 'grow')!;
    const loop = layout.edges.find(e => e.from === 'grow' && e.to === 'grow')!;
    expect(loop.label).toBe('again');
    const first = loop.points[0];
    const last = loop.points[loop.points.length - 1];
    // leaves and re-enters the node's right border, within its height
    for (const p of [first, last]) {
      expect(p.x).toBeCloseTo(grow.x + grow.width, 0);
      expect(p.y).toBeGreaterThan(grow.y);
      expect(p.y).toBeLessThan(grow.y + grow.height);
    }
    for (const p of loop.points) {
      expect(p.x).toBeGreaterThanOrEqual(grow.x + grow.width - 0.5);
      expect(p.x).toBeLessThan(grow.x + grow.width + 40);
    }
    // the label (drawn right of the middle point) fits in the layout
    const mid = loop.points[Math.floor(loop.points.length / 2)];
    expect(mid.x + 4 + 'again'.length * 7).toBeLessThanOrEqual(layout.width);
  });

  it('keys layouts on the graph only', () => {
    const a = flow(['%%step start\nx = 1', '%%step end']);
    const b = flow(['%%step start\nx = 2  # edited', '%%step end']);
    const c = flow(['%%step start\nself.next(self.mid)', '%%step mid', '%%step end']);
    expect(layoutKey(a)).toBe(layoutKey(b));
    expect(layoutKey(a)).not.toBe(layoutKey(c));
  });

  it('lays out 300 steps', () => {
    const sources = ['%%step start\nself.next(self.s0, self.s1)'];
    for (let i = 0; i < 298; i++) {
      sources.push(`%%step s${i}\nself.next(self.${i + 2 < 298 ? `s${i + 2}` : 'end'})`);
    }
    sources.push('%%step end');
    const model = flow(sources);
    const layout = layoutFlow(model);
    expect(layout.nodes).toHaveLength(300);
    expect(layout.edges).toHaveLength(300);
    // no two boxes overlap
    const sorted = [...layout.nodes].sort((a, b) => a.y - b.y);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length && sorted[j].y < sorted[i].y + NODE_HEIGHT; j++) {
        expect(Math.abs(sorted[i].x - sorted[j].x)).toBeGreaterThanOrEqual(NODE_WIDTH);
      }
    }
  });

  it('stacks a linear chain and ends every edge on its own boxes', () => {
    const model = flow([
      '%%step start\nself.next(self.a, self.b)',
      '%%step a\nself.next(self.a2)',
      '%%step a2\nself.next(self.a3)',
      '%%step a3\nself.next(self.join)',
      '%%step b\nself.next(self.join)',
      '%%step join\nx = 1',
      '%%step end'
    ]);
    const layout = layoutFlow(model);
    const box = new Map(layout.nodes.map(n => [n.name, n]));
    expect(box.get('a')!.x).toBe(box.get('a2')!.x);
    expect(box.get('a2')!.y - box.get('a')!.y).toBe(box.get('a3')!.y - box.get('a2')!.y);
    expect(box.get('a2')!.y).toBeGreaterThan(box.get('a')!.y + NODE_HEIGHT);
    expect(box.get('b')!.y).toBe(box.get('a')!.y); // siblings top-aligned
    expect(box.get('join')!.y).toBeGreaterThan(box.get('a3')!.y + NODE_HEIGHT);
    const touches = (
      p: { x: number; y: number },
      n: { x: number; y: number; width: number; height: number }
    ) =>
      p.x >= n.x - 0.5 &&
      p.x <= n.x + n.width + 0.5 &&
      p.y >= n.y - 0.5 &&
      p.y <= n.y + n.height + 0.5;
    for (const e of layout.edges) {
      expect(touches(e.points[0], box.get(e.from)!)).toBe(true);
      expect(touches(e.points[e.points.length - 1], box.get(e.to)!)).toBe(true);
    }
  });
});
