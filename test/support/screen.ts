/**
 * What a terminal shows after a program's output, for the escape codes npm start's live view uses: text
 * written at the cursor, `\r`, `\n` (a pseudo-terminal turns it into `\r\n`), CSI `n F` (cursor to the start
 * of the line n lines up) and CSI `J` / `0 J` (erase from the cursor to the end of the screen); colours (CSI
 * `m`) take no room. Every line ever written stays (the scrollback), unless the program erased it.
 */
const ESC = String.fromCharCode(27);
const CSI = new RegExp(`^${ESC}\\[([0-9;]*)([A-Za-z])`);

export function screen(output: string): string[] {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  const at = (r: number) => {
    while (lines.length <= r) lines.push([]);
    return lines[r] as string[];
  };
  let i = 0;
  const chars = [...output];
  while (i < chars.length) {
    const c = chars[i] as string;
    if (c === ESC) {
      const match = CSI.exec(chars.slice(i, i + 16).join(''));
      if (!match) {
        i++;
        continue;
      }
      const [whole, params, command] = match;
      const n = Number(params || '1');
      if (command === 'F') {
        row = Math.max(0, row - n);
        col = 0;
      } else if (command === 'J' && (params === '' || params === '0')) {
        at(row).length = col;
        lines.length = row + 1;
      }
      i += [...whole].length;
      continue;
    }
    i++;
    if (c === '\r') col = 0;
    else if (c === '\n') {
      row++;
      col = 0;
      at(row);
    } else {
      const line = at(row);
      while (line.length < col) line.push(' ');
      line[col] = c;
      col++;
    }
  }
  return lines.map((l) => l.join('').trimEnd());
}
