import { type Command } from '../cli-error.js';
import { encodeCommand } from './encode.js';
import { keysCommand } from './keys.js';
import { submitCommand } from './submit.js';

/** Every `sentinel` command. Adding one is one line here (and its own file in this folder). */
export const commands: Command[] = [encodeCommand, keysCommand, submitCommand];
