namespace OspBridge.Crypto;

/// <summary>Error codes of the crypto layer (TLS/DTLS engines, certificates, identity, SPAKE2).</summary>
public enum CryptoError
{
    /// <summary>An unspecified internal error.</summary>
    InternalError = 0,
    /// <summary>Input was malformed (maps to a decode_error alert where a handshake is involved).</summary>
    Malformed,
    /// <summary>A length, count or size limit would be exceeded.</summary>
    LimitExceeded,
    /// <summary>A message arrived that is not allowed in the current state.</summary>
    UnexpectedMessage,
    /// <summary>The peer sent a fatal alert; see the alert code in the message.</summary>
    PeerAlert,
    /// <summary>No common parameters (cipher suite, group, ALPN, signature scheme).</summary>
    HandshakeFailure,
    /// <summary>The peer's certificate was rejected.</summary>
    BadCertificate,
    /// <summary>A signature, MAC or Finished value did not verify.</summary>
    DecryptError,
    /// <summary>A record or packet failed authenticated decryption.</summary>
    BadRecordMac,
    /// <summary>Persisted state (identity files) is missing, corrupt or truncated.</summary>
    CorruptState,
    /// <summary>The operation is invalid in the current state.</summary>
    InvalidState,
    /// <summary>Persisted state is exposed to other users (a group/world-writable state directory or file, a readable private key) and was refused.</summary>
    InsecureState,
}

/// <summary>The one exception type of OspBridge.Crypto; <see cref="Error"/> says what went wrong.</summary>
public sealed class CryptoException : Exception
{
    /// <summary>Creates an exception with an error code, an optional TLS alert code and a message.</summary>
    public CryptoException(CryptoError error, string message, byte alert = 0, Exception? inner = null)
        : base(message, inner)
    {
        Error = error;
        Alert = alert;
    }

    /// <summary>What went wrong.</summary>
    public CryptoError Error { get; }

    /// <summary>The TLS alert description to send or that was received (0 when none applies).</summary>
    public byte Alert { get; }
}
