import { describe, expect, it } from 'vitest';
import { slug, toCsv, toJson } from '../src/export';

describe('panel export', () => {
  const d = { columns: ['rank', 'product', 'value', 'detail'], rows: [[1, 'prod_1', 42, null], [2, 'a,"b"', 7.5, '=SUM(A1)']] };

  it('writes RFC 4180 CSV: header row, CRLF, quoted commas and quotes, empty nulls', () => {
    expect(toCsv(d)).toBe('rank,product,value,detail\r\n1,prod_1,42,\r\n2,"a,""b""",7.5,\'=SUM(A1)\r\n');
  });

  it('keeps a leading minus of numbers but defuses formulas in text', () => {
    expect(toCsv({ columns: ['v', 's'], rows: [[-3, '+1'], [NaN, '@x']] })).toBe("v,s\r\n-3,'+1\r\n,'@x\r\n");
  });

  it('writes JSON as one object per row, keyed by column, nulls kept', () => {
    expect(JSON.parse(toJson(d))).toEqual([
      { rank: 1, product: 'prod_1', value: 42, detail: null },
      { rank: 2, product: 'a,"b"', value: 7.5, detail: '=SUM(A1)' },
    ]);
  });

  it('names files after the panel', () => {
    expect(slug('Top products in cat_008')).toBe('top-products-in-cat-008');
    expect(slug('热门商品')).toBe('panel');
  });
});
