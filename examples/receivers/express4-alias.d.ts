// This repository installs Express 4 under the alias `express4` (beside Express 5) to
// test both. @types/express describes Express 5, whose surface used here (express(),
// express.json(), express.raw(), app.post, app.listen) Express 4 shares.
declare module 'express4' {
  import express from 'express';
  export default express;
}
