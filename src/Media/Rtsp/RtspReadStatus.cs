namespace OspBridge.Media.Rtsp;

/// <summary>Result of a transactional RTSP read.</summary>
public enum RtspReadStatus
{
    /// <summary>A whole message was read.</summary>
    Complete,

    /// <summary>More bytes are needed; nothing was consumed.</summary>
    NeedMoreData,

    /// <summary>The bytes are not a valid message (or break a limit); the connection should be dropped.</summary>
    Invalid,
}
