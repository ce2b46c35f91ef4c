namespace OspBridge.Quic.Core;

// Issue 14 (driver robustness), kept out of src/Quic/Core/ on purpose (another session's area in session 14): the one
// entry point the driver needs when its loop failed. The integrator may move it next to Close() in ConnectionCore.cs.
internal sealed partial class ConnectionCore
{
    /// <summary>
    /// Closes with the transport error INTERNAL_ERROR (RFC 9000 §20.1, 0x1): the driver's loop failed (a bug), and the
    /// peer should hear it now rather than after its idle timeout. The CONNECTION_CLOSE comes out of the next
    /// <see cref="TryPollTransmit"/>. Does nothing once closing.
    /// </summary>
    public void CloseOnInternalError(string reason, TimeSpan now) => CloseOnError(TransportErrorCode.InternalError, reason, now);
}
