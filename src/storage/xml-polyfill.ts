/**
 * The DOM globals that the browser builds of the S3 and Azure SDKs parse XML with, which workerd
 * does not have: `DOMParser` and `Node` (`@aws-sdk/xml-builder`, aws-sdk-js-v3 #7375), plus
 * `document` and `XMLSerializer` (`@azure/core-xml`, which checks for all four when it loads).
 * Import this module before either SDK: module evaluation follows import order, so the globals
 * exist by the time the SDK's own modules run. Existing globals are never replaced.
 */
import { DOMImplementation, DOMParser as XmldomParser, Node, XMLSerializer } from '@xmldom/xmldom';

/**
 * xmldom's parser, made to match browsers on two points the SDKs rely on: a leading byte-order
 * mark is ignored (Azure sends one; xmldom rejects the XML declaration after it), and the XML
 * declaration is not a node (xmldom keeps it as a processing instruction, so `childNodes[0]`,
 * which `@azure/core-xml` takes for the root element, would be the declaration).
 */
class BrowserLikeDOMParser extends XmldomParser {
  override parseFromString(source: string, mimeType: string): ReturnType<XmldomParser['parseFromString']> {
    const document = super.parseFromString(source.charCodeAt(0) === 0xfeff ? source.slice(1) : source, mimeType);
    const first = document.firstChild;
    if (first && first.nodeType === Node.PROCESSING_INSTRUCTION_NODE && first.nodeName === 'xml') document.removeChild(first);
    return document;
  }
}

const scope = globalThis as Record<string, unknown>;
scope.DOMParser ??= BrowserLikeDOMParser;
scope.XMLSerializer ??= XMLSerializer;
scope.Node ??= Node;
scope.document ??= new DOMImplementation().createDocument(null, '');
