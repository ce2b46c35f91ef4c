namespace OspBridge.Osp.SchemaGen
{
    internal static class Stub { }
}
