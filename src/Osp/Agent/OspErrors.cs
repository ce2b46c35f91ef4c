using OspBridge.Osp.Messages;
using OspBridge.Quic;

namespace OspBridge.Osp.Agent;

/// <summary>Maps transport failures to <see cref="OspException"/> (keeping them as the inner exception).</summary>
internal static class OspErrors
{
    public static OspException FromQuic(QuicException e, string what)
    {
        OspError error = e.QuicError switch
        {
            QuicError.ConnectionTimeout or QuicError.ConnectionIdle => OspError.Timeout,
            QuicError.ConnectionRefused => OspError.Refused,
            QuicError.ConnectionAborted or QuicError.StreamAborted or QuicError.OperationAborted => FromCloseCode(e.ApplicationErrorCode),
            QuicError.InternalError or QuicError.CallbackError => OspError.InternalError,
            _ => OspError.ConnectionFailed,
        };
        return new OspException(error, $"{what}: {e.Message}", e, e.ApplicationErrorCode);
    }

    /// <summary>Our QUIC reports a cancelled operation as a QuicException; .NET callers expect OperationCanceledException.</summary>
    public static Exception FromQuic(QuicException e, string what, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
            ? new OperationCanceledException($"{what}: canceled", e, cancellationToken)
            : FromQuic(e, what);

    public static OspError FromCloseCode(long? code) => code switch
    {
        OspFraming.UnknownTypeKeyErrorCode => OspError.UnknownMessageType,
        OspConnection.ProtocolErrorCode => OspError.ProtocolError,
        OspConnection.NotAuthenticatedErrorCode => OspError.Refused,
        _ => OspError.Closed,
    };
}
