/** No credential, or one that is unknown, rotated, tampered with or expired (401). */
export class UnauthenticatedError extends Error {
  constructor(message = 'A valid secret key or public access token is required') {
    super(message);
  }
}
