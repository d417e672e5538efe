// Every migration, in order. TypeORM loads these classes directly (no glob), so the same list serves the
// apps, the migration CLI and the tests. `npm run migration:generate` writes a new file here: add it below.
import { CoreSchema1764400000000 } from './1764400000000-CoreSchema.js';
import { EarlyWarning1764400200000 } from './1764400200000-EarlyWarning.js';
import { Pipeline1764400300000 } from './1764400300000-Pipeline.js';
import { ApiKeys1764400900000 } from './1764400900000-ApiKeys.js';
import { AppRoles1764401000000 } from './1764401000000-AppRoles.js';
import { ActivationsRetention1764401100000 } from './1764401100000-ActivationsRetention.js';

export const migrations = [
  CoreSchema1764400000000,
  EarlyWarning1764400200000,
  Pipeline1764400300000,
  ApiKeys1764400900000,
  AppRoles1764401000000,
  ActivationsRetention1764401100000,
];
